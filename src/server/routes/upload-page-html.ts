// The upload page at GET /: one self-contained HTML document (no external assets). A person picks
// one of the served models, drops or picks an image, sees it, and sees the top-5 classes with
// bars. The inline script and style are constants allowed by their sha256 in the page's CSP, so
// nothing else can run; the models are HTML (escaped option elements), never script.
import { createHash } from 'node:crypto';

export const PAGE_STYLE = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.4rem; }
.note { border: 2px solid #c77d00; background: #fff4e0; color: #4a2f00; padding: .6rem .8rem; border-radius: .4rem; }
#picker { display: block; margin: 1rem 0; }
#model { font: inherit; margin-left: .4rem; }
#drop { display: block; border: 2px dashed #888; border-radius: .6rem; padding: 2rem; text-align: center; cursor: pointer; }
#drop.over { border-color: #2a7ae2; background: rgba(42, 122, 226, .08); }
#drop input { display: block; margin: 1rem auto 0; }
#preview { display: block; max-width: 100%; max-height: 20rem; margin: 1rem auto; }
[hidden] { display: none !important; }
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
const model = document.getElementById('model');
const note = document.querySelector('p.note');
const classes = document.getElementById('classes');
const precision = document.getElementById('precision');
const preview = document.getElementById('preview');
const status = document.getElementById('status');
const list = document.getElementById('results');
const scale = document.getElementById('scale');
let previewUrl = null;
let lastFile = null;

function showStatus(text, isError) {
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

// Bars are relative to the top score: with seeded weights every score is near 1/classes (0.1% for
// 1000 classes), and bars of absolute width would not show.
function showResults(predictions) {
  const top = Math.max(...predictions.map((p) => p.score));
  list.replaceChildren(...predictions.map((p) => {
    const item = document.createElement('li');
    const row = document.createElement('div');
    row.className = 'row';
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = p.label;
    const score = document.createElement('span');
    score.className = 'score';
    // Two decimals below 1%, where seeded weights' near-equal scores would all read 0.1%.
    score.textContent = (p.score * 100).toFixed(p.score < 0.01 ? 2 : 1) + '%';
    row.append(label, score);
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = (top > 0 ? Math.max(0, Math.min(100, (p.score / top) * 100)) : 0) + '%';
    item.append(row, bar);
    return item;
  }));
}

function selected() {
  return model.options[model.selectedIndex];
}

function showModel() {
  const option = selected();
  if (note) note.hidden = option.dataset.trained === 'true';
  classes.textContent = option.dataset.classes;
  precision.textContent = option.dataset.precision;
}

async function classify(file) {
  lastFile = file;
  const option = selected();
  const topk = Math.min(5, Number(option.dataset.classes));
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  preview.src = previewUrl;
  preview.hidden = false;
  list.replaceChildren();
  scale.hidden = true;
  showStatus('Classifying ' + file.name + '...', false);
  try {
    const query = 'topk=' + topk + '&model=' + encodeURIComponent(option.value) + '&version=' + encodeURIComponent(option.dataset.version);
    const response = await fetch('predict?' + query, {
      method: 'POST',
      headers: { 'content-type': file.type || 'application/octet-stream' },
      body: file,
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.code + ': ' + body.error.message : 'HTTP ' + response.status);
    showResults(body.results[0].predictions);
    scale.hidden = false;
    showStatus(body.warning ? 'Done. Seeded weights: these labels and scores are meaningless.' : 'Done.', false);
  } catch (err) {
    showStatus(String(err.message || err), true);
  }
}

model.addEventListener('change', () => {
  showModel();
  if (lastFile) classify(lastFile);
});
if (model.options.length > 0) showModel();
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

export interface PageModel {
  readonly name: string;
  readonly version: number;
  readonly trained: boolean;
  readonly classes: number;
  readonly precision: string;
}

function option(model: PageModel, selected: boolean): string {
  const weights = model.trained ? 'trained' : 'seeded weights';
  const data = `data-version="${model.version}" data-trained="${model.trained}" data-classes="${model.classes}" data-precision="${escapeHtml(model.precision)}"`;
  return `<option value="${escapeHtml(model.name)}" ${data}${selected ? ' selected' : ''}>${escapeHtml(model.name)} (version ${model.version}, ${model.classes} classes, ${escapeHtml(model.precision)}, ${weights})</option>`;
}

/** The page for the models served now; `selected`: the one preselected (the default model). */
export function renderUploadPage(models: readonly PageModel[], selected: string | undefined): string {
  // What the page shows before the script runs: the preselected model, else the first one listed.
  const shown = models.find((m) => m.name === selected) ?? models[0];
  const note = models.every((m) => m.trained)
    ? ''
    : `<p class="note" id="seeded-note"><strong>Seeded weights:</strong> this model was built with seeded, untrained weights, so its predictions are meaningless. Start the service with real weights (MODEL_WEIGHTS) for real predictions.</p>`;
  const options = models.map((m) => option(m, m.name === selected)).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>resnet-serve: classify an image</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<h1>Classify an image</h1>
<label id="picker">Model<select id="model"${models.length === 0 ? ' disabled' : ''}>
${options}
</select></label>
${note}
<label id="drop">Drop an image here, or pick one
<input type="file" id="file" accept="image/jpeg,image/png,image/webp,image/gif,image/avif,image/tiff"${models.length === 0 ? ' disabled' : ''}>
</label>
<img id="preview" alt="The image being classified" hidden>
<p id="status" role="status" aria-live="polite">${models.length === 0 ? 'No model is being served yet.' : ''}</p>
<ol id="results" aria-label="Top 5 classes"></ol>
<p id="scale" hidden><small>Bars are relative to the top score.</small></p>
<p><small><span id="classes">${shown?.classes ?? 0}</span> classes · <span id="precision">${escapeHtml(shown?.precision ?? '')}</span> · API docs at <a href="docs">/docs</a></small></p>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
