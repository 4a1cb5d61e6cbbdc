// `npm run bench:preprocess`: what preprocessing costs, side by side in one run.
// 1. One image at a time with sharp.concurrency(1) (one libvips thread, one libuv thread): wall ms
//    and CPU ms per image for the 500x375 fixture JPEG and a 4000x3000 JPEG, for each JPEG
//    shrink-on-load mode, with the parity of each mode against torchvision's reference.
//    The big JPEG and its reference are made into /tmp by
//    `scripts/fixtures/preprocess_reference.py --large` (/usr/bin/python3 with torchvision).
// 2. Throughput of the 500x375 JPEG decoded by libvips (JPEG_DECODER=sharp) with 1, 2 and 4
//    images in flight, with 1 and 2 libvips threads per image. Images in flight run on libuv's
//    threadpool, so at most UV_THREADPOOL_SIZE (default 4) decode at once.
// 3. The JPEG decoders side by side (JPEG_DECODER: libjpeg-turbo against sharp, alternating
//    rounds): CPU ms per image and images/s for the 500x375 and 1200x900 fixtures, 1 and 2 in flight.
// 4. With --photos DIR: parity of every JPEG in DIR (real photographs, too large to commit) for each
//    shrink-on-load mode; references by `preprocess_reference.py --photos` (/usr/bin/python3).
// Configurations run in interleaved rounds (the machine may be shared); medians are reported.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import {
  configureJpegDecoder,
  configureSharp,
  DEFAULT_SHRINK_ON_LOAD,
  IMAGENET_PRESET,
  preprocessImage,
  SHRINK_ON_LOAD_MODES,
  type JpegDecoder,
  type PreprocessOptions,
  type ShrinkOnLoad,
} from '../../src/preprocess/index.ts';
import {
  difference,
  fixtureBytes,
  IMAGES_DIR,
  loadReferenceSet,
  referenceTensor,
  type Difference,
} from '../../test/preprocess/parity.ts';
import { command, commandLine } from '../lib/cli.ts';
import { median } from '../lib/stats.ts';

const { seconds, rounds, photos } = commandLine(
  command({
    name: 'npm run bench:preprocess',
    summary: 'Preprocessing cost per image (each JPEG shrink-on-load mode, with its parity) and throughput.',
    flags: {
      seconds: {
        kind: 'number',
        value: 'S',
        min: 0.2,
        max: 30,
        default: 2,
        help: 'seconds per configuration and round',
      },
      rounds: { kind: 'int', min: 1, max: 10, default: 3, help: 'interleaved rounds; medians are reported' },
      photos: {
        kind: 'string',
        value: 'DIR',
        help: 'also the parity of every JPEG in DIR (real photographs) with each shrink-on-load mode',
      },
    },
  }),
);
const BIG_DIR = '/tmp/resnet-serve-bench-preprocess';
const OPTIONS: PreprocessOptions = { preset: IMAGENET_PRESET, maxImageBytes: 50_000_000, maxImagePixels: 40_000_000 };

interface Subject {
  readonly name: string;
  readonly bytes: Buffer;
  readonly reference?: Float32Array;
}

/** The 4000x3000 JPEG with its torchvision reference; without Python, an upscaled fixture and no reference. */
async function bigJpeg(): Promise<Subject> {
  const image = `${BIG_DIR}/large-4000x3000.jpg`;
  const ref = `${BIG_DIR}/large-4000x3000.ref.png`;
  if (!existsSync(image) || !existsSync(ref)) {
    try {
      execFileSync('/usr/bin/python3', ['scripts/fixtures/preprocess_reference.py', '--large', BIG_DIR], {
        stdio: 'ignore',
      });
    } catch {
      console.log(
        'no /usr/bin/python3 with torchvision: 4000x3000 JPEG upscaled from the fixture, parity not measured',
      );
      await mkdir(BIG_DIR, { recursive: true });
      const bytes = await sharp(fixtureBytes('landscape-500x375.jpg'))
        .resize(4000, 3000)
        .jpeg({ quality: 90 })
        .toBuffer();
      return { name: '4000x3000.jpg', bytes };
    }
  }
  return { name: '4000x3000.jpg', bytes: readFileSync(image), reference: await referenceTensor(ref) };
}

async function subjects(): Promise<Subject[]> {
  const small = loadReferenceSet().images.find((image) => image.file === 'landscape-500x375.jpg');
  if (small === undefined) throw new Error('landscape-500x375.jpg missing from the reference set');
  const smallSubject = {
    name: '500x375.jpg',
    bytes: fixtureBytes(small.file),
    reference: await referenceTensor(IMAGES_DIR + small.reference),
  };
  return [smallSubject, await bigJpeg()];
}

interface Timing {
  readonly images: number;
  readonly wallMs: number[];
  readonly cpuMs: number;
}

/** `inFlight` loops preprocessing the same image until the time is up. */
async function run(bytes: Buffer, options: PreprocessOptions, inFlight: number): Promise<Timing> {
  const wallMs: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const cpu = process.cpuUsage();
  const loop = async () => {
    while (performance.now() < deadline || wallMs.length < 3) {
      const started = performance.now();
      await preprocessImage(bytes, options);
      wallMs.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, loop));
  const elapsed = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { images: (wallMs.length / elapsed) * 1000, wallMs, cpuMs: (used.user + used.system) / 1000 / wallMs.length };
}

interface LatencyRow {
  subject: string;
  mode: ShrinkOnLoad;
  wallMs: number;
  cpuMs: number;
  parity?: Difference;
}

async function latency(all: Subject[]): Promise<LatencyRow[]> {
  configureSharp({ concurrency: 1 });
  const samples = new Map<string, { wall: number[]; cpu: number[] }>();
  for (let round = 0; round < rounds; round++) {
    for (const subject of all) {
      for (const mode of SHRINK_ON_LOAD_MODES) {
        const timing = await run(subject.bytes, { ...OPTIONS, shrinkOnLoad: mode }, 1);
        const entry = samples.get(`${subject.name}|${mode}`) ?? { wall: [], cpu: [] };
        entry.wall.push(median(timing.wallMs));
        entry.cpu.push(timing.cpuMs);
        samples.set(`${subject.name}|${mode}`, entry);
      }
    }
  }
  const rows: LatencyRow[] = [];
  for (const subject of all) {
    for (const mode of SHRINK_ON_LOAD_MODES) {
      const entry = samples.get(`${subject.name}|${mode}`);
      if (entry === undefined) continue;
      const tensor = await preprocessImage(subject.bytes, { ...OPTIONS, shrinkOnLoad: mode });
      const parity = subject.reference === undefined ? undefined : difference(tensor, subject.reference);
      rows.push({ subject: subject.name, mode, wallMs: median(entry.wall), cpuMs: median(entry.cpu), parity });
    }
  }
  return rows;
}

interface ThroughputRow {
  inFlight: number;
  concurrency: number;
  imagesPerSecond: number;
  cpuMs: number;
}

async function throughput(subject: Subject): Promise<ThroughputRow[]> {
  const configs = [1, 2, 4].flatMap((inFlight) => [1, 2].map((concurrency) => ({ inFlight, concurrency })));
  const samples = configs.map(() => ({ rate: [] as number[], cpu: [] as number[] }));
  configureJpegDecoder('sharp');
  for (let round = 0; round < rounds; round++) {
    for (const [i, { inFlight, concurrency }] of configs.entries()) {
      configureSharp({ concurrency });
      const timing = await run(subject.bytes, { ...OPTIONS, shrinkOnLoad: DEFAULT_SHRINK_ON_LOAD }, inFlight);
      samples[i]?.rate.push(timing.images);
      samples[i]?.cpu.push(timing.cpuMs);
    }
  }
  return configs.map((config, i) => ({
    ...config,
    imagesPerSecond: median(samples[i]?.rate ?? []),
    cpuMs: median(samples[i]?.cpu ?? []),
  }));
}

interface DecoderRow {
  subject: string;
  inFlight: number;
  decoder: JpegDecoder;
  imagesPerSecond: number;
  cpuMs: number;
}

/** libjpeg-turbo against sharp on the same images, in alternating order; [] without libturbojpeg. */
async function decoders(): Promise<DecoderRow[]> {
  configureSharp({ concurrency: 1 });
  try {
    configureJpegDecoder('libjpeg-turbo');
  } catch (err) {
    console.log(`\n${err instanceof Error ? err.message : String(err)}: decoders not compared`);
    return [];
  }
  const images = new Map(['landscape-500x375.jpg', 'large-1200x900.jpg'].map((name) => [name, fixtureBytes(name)]));
  const kinds: JpegDecoder[] = ['libjpeg-turbo', 'sharp'];
  const configs = [...images.keys()].flatMap((subject) =>
    [1, 2].flatMap((inFlight) => kinds.map((decoder) => ({ subject, inFlight, decoder }))),
  );
  const samples = configs.map(() => ({ rate: [] as number[], cpu: [] as number[] }));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [...configs.entries()] : [...configs.entries()].reverse();
    for (const [i, { subject, inFlight, decoder }] of order) {
      configureJpegDecoder(decoder);
      const timing = await run(images.get(subject) ?? Buffer.alloc(0), OPTIONS, inFlight);
      samples[i]?.rate.push(timing.images);
      samples[i]?.cpu.push(timing.cpuMs);
    }
  }
  configureJpegDecoder('auto');
  return configs.map((config, i) => ({
    ...config,
    imagesPerSecond: median(samples[i]?.rate ?? []),
    cpuMs: median(samples[i]?.cpu ?? []),
  }));
}

const f = (value: number, digits = 1) => value.toFixed(digits);

function printDecoders(rows: DecoderRow[]): void {
  if (rows.length === 0) return;
  console.log('\n| image | in flight | JPEG_DECODER | images/s | CPU ms/image | CPU vs sharp |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    const sharpRow = rows.find(
      (r) => r.subject === row.subject && r.inFlight === row.inFlight && r.decoder === 'sharp',
    );
    const ratio = sharpRow === undefined ? '-' : `${f(row.cpuMs / sharpRow.cpuMs, 2)}x`;
    console.log(
      `| ${row.subject} | ${row.inFlight} | ${row.decoder} | ${f(row.imagesPerSecond, 0)} | ${f(row.cpuMs, 2)} | ${ratio} |`,
    );
  }
}

interface PhotoRow {
  photo: string;
  size: string;
  mode: ShrinkOnLoad;
  parity: Difference;
}

/** Parity of each photo in `dir` per shrink-on-load mode, against references made now by Python. */
async function photoParity(dir: string): Promise<PhotoRow[]> {
  const lines = execFileSync(
    '/usr/bin/python3',
    ['scripts/fixtures/preprocess_reference.py', '--photos', dir, `${BIG_DIR}/photos`],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const rows: PhotoRow[] = [];
  for (const line of lines.split('\n').filter((l) => l.startsWith('{'))) {
    const entry = JSON.parse(line) as { image: string; reference: string; storedSize: number[] };
    const bytes = readFileSync(entry.image);
    const reference = await referenceTensor(entry.reference);
    for (const mode of SHRINK_ON_LOAD_MODES) {
      const parity = difference(await preprocessImage(bytes, { ...OPTIONS, shrinkOnLoad: mode }), reference);
      rows.push({ photo: entry.image.split('/').pop() ?? entry.image, size: entry.storedSize.join('x'), mode, parity });
    }
  }
  return rows;
}

function printPhotos(rows: PhotoRow[]): void {
  console.log('\n| photo | size | JPEG shrink-on-load | mean abs diff | p99 abs diff | max abs diff |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.photo} | ${r.size} | ${r.mode} | ${f(r.parity.mean, 4)} | ${f(r.parity.p99, 4)} | ${f(r.parity.max, 4)} |`,
    );
}

function printLatency(rows: LatencyRow[]): void {
  console.log('\n| image | JPEG shrink-on-load | wall ms/image | CPU ms/image | mean abs diff | p99 abs diff |');
  console.log('|---|---|---|---|---|---|');
  for (const row of rows) {
    const parity = row.parity === undefined ? '- | -' : `${f(row.parity.mean, 4)} | ${f(row.parity.p99, 4)}`;
    const label = row.mode === DEFAULT_SHRINK_ON_LOAD ? `${row.mode} (default)` : row.mode;
    console.log(`| ${row.subject} | ${label} | ${f(row.wallMs)} | ${f(row.cpuMs)} | ${parity} |`);
  }
}

function printThroughput(rows: ThroughputRow[]): void {
  const base = rows[0]?.imagesPerSecond ?? 1;
  console.log('\n| images in flight | libvips threads per image | images/s | vs 1x1 | CPU ms/image |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.inFlight} | ${row.concurrency} | ${f(row.imagesPerSecond, 0)} | ${f(row.imagesPerSecond / base, 2)}x | ${f(row.cpuMs)} |`,
    );
  }
}

async function main(): Promise<void> {
  const all = await subjects();
  // Informational only: libuv reads it once at its first use of the pool.
  const pool = process.env.UV_THREADPOOL_SIZE ?? '4 (default)';
  console.log(
    `cores: ${availableParallelism()}, UV_THREADPOOL_SIZE: ${pool}, ${rounds} rounds x ${seconds} s per configuration`,
  );
  const latencyRows = await latency(all);
  printLatency(latencyRows);
  const small = all[0];
  if (small === undefined) throw new Error('no subject');
  const throughputRows = await throughput(small);
  printThroughput(throughputRows);
  const decoderRows = await decoders();
  printDecoders(decoderRows);
  const photoRows = photos === undefined ? [] : await photoParity(photos);
  if (photoRows.length > 0) printPhotos(photoRows);
  await mkdir('load/reports', { recursive: true });
  const path = `load/reports/bench-preprocess-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(
    path,
    JSON.stringify(
      { cores: availableParallelism(), pool, rounds, seconds, latencyRows, throughputRows, decoderRows, photoRows },
      null,
      1,
    ),
  );
  console.log(`\nreport: ${path}`);
}

await main();
