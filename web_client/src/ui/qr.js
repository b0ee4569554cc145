// A QR code as an SVG image, built in the browser from a text (no network, no HTML string: the
// SVG goes in through a data: URL on an <img>, which the page policy allows and Trusted Types
// does not concern). The encoder is loaded only when a QR code is first shown.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";

async function svgDataUrl(text) {
  const { default: qrcode } = await import("qrcode-generator");
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  let path = "";
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) if (qr.isDark(y, x)) path += `M${x + quiet} ${y + quiet}h1v1h-1z`;
  }
  const size = n + 2 * quiet;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path d="${path}" fill="#000"/></svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** @param {{text: string, label: string}} props */
export function QrCode({ text, label }) {
  const [src, setSrc] = useState("");
  useEffect(() => {
    let live = true;
    svgDataUrl(text).then((url) => live && setSrc(url));
    return () => {
      live = false;
    };
  }, [text]);
  return src ? html`<img class="qr" src=${src} alt=${label} width="220" height="220" />` : null;
}
