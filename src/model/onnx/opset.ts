// The one place the ONNX versions are pinned. Provenance: onnx/docs/Versioning.md, "Released
// Versions" table, row "1.12.0 | IR 8 | opset 17 | ai.onnx.ml 3": opset 17 with IR version 8 is
// what ONNX 1.12 writes, so the files load in onnxruntime >= 1.12, onnx >= 1.12 checkers,
// TensorRT 8.5+ and OpenVINO 2022.3+. Every operator in ops.ts exists at this opset with the
// signature used there (e.g. Pad-13 and Slice-13 take pads/steps as inputs, not attributes).
export const OPSET_VERSION = 17;
export const IR_VERSION = 8;
/** The default operator domain (ai.onnx) is the empty string in ONNX files. */
export const ONNX_DOMAIN = '';
export const PRODUCER_NAME = 'resnet-serve';
