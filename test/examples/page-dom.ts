// The little of the DOM that the tests' page functions use. The project's type-check has no DOM
// library (it is Node code), and string predicates cannot run: the example pages' CSP forbids
// eval. Page functions are written against this type and cast `globalThis` to it.
export interface PageElement {
  readonly textContent: string | null;
  readonly value?: string;
}

export interface PageGlobals {
  document: {
    getElementById(id: string): PageElement | null;
    querySelectorAll(selector: string): { readonly length: number };
  };
}
