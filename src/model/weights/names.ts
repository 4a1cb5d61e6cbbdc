// Tensor-name maps to torchvision's names (the builder's own). timm's ResNet uses torchvision's
// names unchanged; Hugging Face transformers' ResNetModel (modeling_resnet.py) nests them as below.
// A `module.` prefix (torch DataParallel checkpoints) is dropped.

const HF_RULES: readonly [RegExp, (m: RegExpMatchArray) => string][] = [
  [/^resnet\.embedder\.embedder\.convolution\.(weight)$/, (m) => `conv1.${m[1]}`],
  [/^resnet\.embedder\.embedder\.normalization\.(\w+)$/, (m) => `bn1.${m[1]}`],
  [
    /^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.convolution\.(weight)$/,
    (m) => `${layer(m)}.downsample.0.${m[3]}`,
  ],
  [
    /^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.shortcut\.normalization\.(\w+)$/,
    (m) => `${layer(m)}.downsample.1.${m[3]}`,
  ],
  [
    /^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.convolution\.(weight)$/,
    (m) => `${layer(m)}.conv${Number(m[3]) + 1}.${m[4]}`,
  ],
  [
    /^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.layer\.(\d+)\.normalization\.(\w+)$/,
    (m) => `${layer(m)}.bn${Number(m[3]) + 1}.${m[4]}`,
  ],
  [/^classifier\.1\.(weight|bias)$/, (m) => `fc.${m[1]}`],
];

/** HF stage s, layer l -> torchvision layer{s+1}.l */
function layer(m: RegExpMatchArray): string {
  return `layer${Number(m[1]) + 1}.${m[2]}`;
}

export type NamingScheme = 'torchvision' | 'huggingface';

/** The scheme a file uses: Hugging Face when any name starts as transformers' ResNet names do. */
export function detectScheme(names: readonly string[]): NamingScheme {
  return names.some((n) => n.startsWith('resnet.') || n.startsWith('classifier.')) ? 'huggingface' : 'torchvision';
}

/** The torchvision name for a file's tensor name, or undefined when no rule knows it. */
export function toTorchvisionName(name: string, scheme: NamingScheme): string | undefined {
  const bare = name.startsWith('module.') ? name.slice('module.'.length) : name;
  if (scheme === 'torchvision') return bare;
  for (const [pattern, rename] of HF_RULES) {
    const m = bare.match(pattern);
    if (m) return rename(m);
  }
  return undefined;
}

/** BatchNorm's step counter is training state, not a weight: files may carry it, we ignore it. */
export function isIgnored(name: string): boolean {
  return name.endsWith('num_batches_tracked');
}
