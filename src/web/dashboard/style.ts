/**
 * @module
 * The dashboard's stylesheet (one inline `<style>`, allowed by its hash): system fonts, light and dark schemes
 * from `prefers-color-scheme` with WCAG AA contrast, a fluid poster grid that fits 360 px without horizontal
 * scroll, and chart colours as classes so the SVG follows the scheme.
 */
export const DASHBOARD_STYLE = `
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2328; --muted: #57606a; --line: #d0d7de; --card: #f6f8fa;
  --accent: #0969da; --ok: #1a7f37; --fail: #cf222e; --l0: #ebedf0; --l1: #9be9a8; --l2: #40c463; --l3: #30a14e; --l4: #216e39; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #30363d; --card: #161b22; --accent: #4493f8;
    --ok: #3fb950; --fail: #f85149; --l0: #161b22; --l1: #0e4429; --l2: #006d32; --l3: #26a641; --l4: #39d353; }
}
* { box-sizing: border-box; }
html { background: var(--bg); color: var(--fg); }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; overflow-x: hidden; }
a { color: var(--accent); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between;
  padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.2rem; margin: 0; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: center; }
main { max-width: 1440px; margin: 0 auto; padding: 1rem; }
section { margin-bottom: 1.5rem; }
h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: 1rem; }
.panels { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 320px), 1fr)); }
label { display: block; margin: .5rem 0; }
label > span { display: block; font-size: .9rem; color: var(--muted); }
input, select, button, .button { font: inherit; color: inherit; }
input, select { width: 100%; padding: .45rem .5rem; border: 1px solid var(--line); border-radius: .375rem; background: var(--bg); }
button, .button { display: inline-block; padding: .4rem .9rem; margin: .25rem .5rem .25rem 0; border-radius: .375rem;
  border: 1px solid var(--line); background: var(--card); cursor: pointer; text-decoration: none; }
button.primary, .button.primary { background: var(--accent); border-color: var(--accent); color: #ffffff; }
button:disabled { opacity: .6; cursor: not-allowed; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
#signin { max-width: 26rem; margin: 2rem auto; }
#message { min-height: 1.5rem; margin: 0 0 1rem; }
#message:empty { display: none; }
#message.ok { color: var(--ok); } #message.fail, .fail { color: var(--fail); }
.muted { color: var(--muted); }
[data-state="connected"] { color: var(--ok); } [data-state="disconnected"], [data-state="warning"] { color: var(--fail); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
progress { width: 100%; height: .75rem; }
#device-code { font-size: 1.5rem; font-weight: 700; letter-spacing: .15em; }
.totals { display: flex; flex-wrap: wrap; gap: 1rem 2rem; margin: 0 0 1rem; }
.totals div { min-width: 6rem; } .totals dt { color: var(--muted); font-size: .9rem; }
.totals dd { margin: 0; font-size: 1.6rem; font-weight: 700; }
figure { margin: 0 0 1rem; } figcaption { font-weight: 600; margin-bottom: .25rem; }
.chart-box { overflow-x: auto; }
svg.chart { display: block; width: 100%; height: auto; max-width: 720px; }
svg .bar { fill: var(--accent); } svg .axis { fill: var(--muted); font-size: 9px; }
svg .l0 { fill: var(--l0); } svg .l1 { fill: var(--l1); } svg .l2 { fill: var(--l2); } svg .l3 { fill: var(--l3); } svg .l4 { fill: var(--l4); }
#genres { margin: 0; padding-left: 1.25rem; }
form#filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin-bottom: 1rem; }
form#filters label { margin: 0; flex: 1 1 10rem; }
#grid { list-style: none; margin: 0; padding: 0; display: grid; gap: 1rem;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, 140px), 1fr)); }
.card-body { display: flex; flex-direction: column; gap: .15rem; width: 100%; height: 100%; margin: 0; padding: 0;
  border: 0; background: none; text-align: left; color: inherit; font: inherit; }
button.card-body { cursor: pointer; }
.poster { display: block; width: 100%; height: auto; aspect-ratio: 2 / 3; object-fit: cover; border-radius: .375rem;
  background: var(--card); border: 1px solid var(--line); }
.placeholder { display: flex; align-items: center; justify-content: center; padding: .5rem; text-align: center;
  color: var(--muted); font-size: .9rem; overflow: hidden; overflow-wrap: anywhere; }
.card .title { font-weight: 600; overflow-wrap: anywhere; }
.card .subtitle, .card .when { font-size: .875rem; color: var(--muted); overflow-wrap: anywhere; }
#sentinel { height: 1px; }
dialog { width: min(100vw - 1rem, 56rem); max-height: calc(100vh - 2rem); border: 1px solid var(--line);
  border-radius: .5rem; background: var(--bg); color: var(--fg); padding: 1rem; }
dialog::backdrop { background: rgb(0 0 0 / .5); }
.dialog-head { display: flex; justify-content: space-between; align-items: center; gap: 1rem; }
.episodes { list-style: none; padding: 0; margin: 0; display: grid; gap: .5rem; }
.episode { display: grid; grid-template-columns: 160px 1fr; gap: .75rem; align-items: start; }
.episode img, .still { width: 160px; height: 90px; object-fit: cover; border-radius: .25rem; background: var(--card);
  border: 1px solid var(--line); }
.episode.watched .title { color: var(--ok); }
@media (max-width: 480px) { .episode { grid-template-columns: 96px 1fr; } .episode img, .still { width: 96px; height: 54px; } }
`;
