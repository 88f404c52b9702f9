// First: every style element created from here on carries the page's CSP nonce.
import "./csp-nonce.js";
import { render } from "preact";
import { App } from "./app.js";
import "./styles.css";

render(<App />, document.getElementById("app")!);
