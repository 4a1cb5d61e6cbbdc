// Every relative link in the user docs (README.md, docs/, models/, deploy/) points at a file of the
// repository, and every #anchor at a heading of its target, with GitHub's slugs: lower case,
// punctuation but `-` and `_` dropped, spaces to `-`, a repeated slug suffixed -1, -2, ...
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function markdownFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

const DOCS = ['README.md', ...['docs', 'models', 'deploy'].flatMap(markdownFiles)];

/** The text outside fenced code blocks and inline code, where links and headings are markdown. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, (code) => code.replace(/[[\]()]/g, ' '));
  });
}

function githubSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = githubSlug(heading[1] as string);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

function linksOf(markdown: string): string[] {
  const text = prose(markdown).join('\n');
  return [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] as string);
}

describe('docs links', () => {
  it('GitHub slugs: code and punctuation as GitHub renders them', () => {
    expect(githubSlug('Execution providers (`EXECUTION_PROVIDER`)')).toBe('execution-providers-execution_provider');
    expect(githubSlug('Metrics (`GET /metrics`)')).toBe('metrics-get-metrics');
    expect(githubSlug('KServe V2 (Open Inference Protocol)')).toBe('kserve-v2-open-inference-protocol');
    expect(anchorsOf('# A\n## A\n```\n# A\n```\n')).toEqual(new Set(['a', 'a-1']));
  });

  it('finds the user docs', () => {
    expect(DOCS).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md', 'models/README.md']));
  });

  it.each(DOCS)('%s: every relative link and #anchor resolves', (doc) => {
    const broken: string[] = [];
    for (const link of linksOf(readFileSync(join(ROOT, doc), 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
      const [path = '', anchor] = link.split('#', 2);
      const target = path === '' ? join(ROOT, doc) : join(ROOT, dirname(doc), decodeURIComponent(path));
      if (!existsSync(target)) {
        broken.push(`${link}: no file ${relative(ROOT, target)}`);
        continue;
      }
      if (anchor !== undefined && target.endsWith('.md') && !anchorsOf(readFileSync(target, 'utf8')).has(anchor))
        broken.push(`${link}: no heading #${anchor} in ${relative(ROOT, target)}`);
    }
    expect(broken).toEqual([]);
  });
});
