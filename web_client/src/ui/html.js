// htm bound to preact: JSX-like templates with no compile step and no eval (CSP-safe).
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);
