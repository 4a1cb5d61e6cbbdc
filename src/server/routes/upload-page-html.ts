// The upload page at GET /: one self-contained HTML document (no external assets). A person drops
// or picks an image, sees it, and sees the top-5 classes with bars. The inline script and style
// are allowed by their sha256 in the page's CSP, so nothing else can run.
import { createHash } from 'node:crypto';

export const PAGE_STYLE = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.4rem; }
.note { border: 2px solid #c77d00; background: #fff4e0; color: #4a2f00; padding: .6rem .8rem; border-radius: .4rem; }
#drop { display: block; border: 2px dashed #888; border-radius: .6rem; padding: 2rem; text-align: center; cursor: pointer; }
#drop.over { border-color: #2a7ae2; background: rgba(42, 122, 226, .08); }
#drop input { display: block; margin: 1rem auto 0; }
#preview { display: block; max-width: 100%; max-height: 20rem; margin: 1rem auto; }
#status { min-height: 1.4em; }
#status.error { color: #b00020; }
ol { padding-left: 1.4rem; }
li { margin: .4rem 0; }
.row { display: flex; justify-content: space-between; gap: 1rem; }
.bar { height: .6rem; background: #2a7ae2; border-radius: .3rem; min-width: 2px; }
`;

export const PAGE_SCRIPT = `
const drop = document.getElementById('drop');
const input = document.getElementById('file');
const preview = document.getElementById('preview');
const status = document.getElementById('status');
const list = document.getElementById('results');
let previewUrl = null;

function showStatus(text, isError) {
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

function showResults(predictions) {
  list.replaceChildren(...predictions.map((p) => {
    const item = document.createElement('li');
    const row = document.createElement('div');
    row.className = 'row';
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = p.label;
    const score = document.createElement('span');
    score.className = 'score';
    score.textContent = (p.score * 100).toFixed(1) + '%';
    row.append(label, score);
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = Math.max(0, Math.min(100, p.score * 100)) + '%';
    item.append(row, bar);
    return item;
  }));
}

async function classify(file) {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  preview.src = previewUrl;
  preview.hidden = false;
  list.replaceChildren();
  showStatus('Classifying ' + file.name + '...', false);
  try {
    const response = await fetch('predict?topk=5', {
      method: 'POST',
      headers: { 'content-type': file.type || 'application/octet-stream' },
      body: file,
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + response.status);
    showResults(body.results[0].predictions);
    showStatus(body.warning ? 'Done (seeded weights: the labels are meaningless).' : 'Done.', false);
  } catch (err) {
    showStatus(String(err.message || err), true);
  }
}

input.addEventListener('change', () => { if (input.files[0]) classify(input.files[0]); });
drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer.files[0];
  if (file) classify(file);
});
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(PAGE_SCRIPT)}`,
  `style-src ${sha256(PAGE_STYLE)}`,
  'img-src blob:',
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderUploadPage(model: {
  name: string;
  trained: boolean;
  classes: number;
  precision: string;
}): string {
  const note = model.trained
    ? ''
    : `<p class="note" id="seeded-note"><strong>Seeded weights:</strong> this model was built with seeded, untrained weights, so its predictions are meaningless. Start the service with real weights (MODEL_WEIGHTS) for real predictions.</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>resnet-serve: classify an image</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<h1>Classify an image with <code>${escapeHtml(model.name)}</code></h1>
${note}
<label id="drop">Drop an image here, or pick one
<input type="file" id="file" accept="image/jpeg,image/png,image/webp,image/gif,image/avif,image/tiff">
</label>
<img id="preview" alt="The image being classified" hidden>
<p id="status" role="status" aria-live="polite"></p>
<ol id="results" aria-label="Top 5 classes"></ol>
<p><small>${model.classes} classes · <span id="precision">${escapeHtml(model.precision)}</span> · API docs at <a href="docs">/docs</a></small></p>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
