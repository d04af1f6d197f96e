// The default theme with the colour fixes the landing page's accessibility check asks for.
import DefaultTheme from 'vitepress/theme';
import './contrast.css';

export default DefaultTheme;
