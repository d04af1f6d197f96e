// Types of scripts/api-index.mjs for the tests that import it.
export interface IndexGroup {
  title: string;
  about: string;
  test?: (name: string) => boolean;
  names?: string[];
  modules?: string[];
}
export const CORE_GROUPS: readonly IndexGroup[];
export function barrelExports(source: string): Map<string, string>;
export function groupOf(name: string, module: string, groups?: readonly IndexGroup[]): IndexGroup | undefined;
export function firstSentence(text: string): string;
export function groupedIndex(
  markdown: string,
  barrel: ReadonlyMap<string, string>,
  intro: string,
  groups?: readonly IndexGroup[],
): string;
export function shortenedIndex(markdown: string): string;
