"""A client not written by us: Debian's python3-grpcio with stubs that grpc_tools.protoc generated
from the server's .proto files (the test passes the folder). Calls every inference RPC the
server implements and the health check, and prints what it got as JSON for the test to compare
with the engine and the REST route.

usage: python_client.py STUB_DIR HOST:PORT TENSOR_FILE IMAGE_FILE
"""
import json
import struct
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
import grpc_service_pb2 as pb  # noqa: E402
import grpc_service_pb2_grpc as pb_grpc  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402


def floats(raw):
    return list(struct.unpack("<%df" % (len(raw) // 4), raw))


def strings(raw):
    out, offset = [], 0
    while offset < len(raw):
        (length,) = struct.unpack_from("<I", raw, offset)
        out.append(raw[offset + 4 : offset + 4 + length].decode("utf-8"))
        offset += 4 + length
    return out


def main():
    address, tensor_file, image_file = sys.argv[2:5]
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", -1)])
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    result = {
        "live": stub.ServerLive(pb.ServerLiveRequest()).live,
        "ready": stub.ServerReady(pb.ServerReadyRequest()).ready,
        "model_ready": stub.ModelReady(pb.ModelReadyRequest(name="resnet50")).ready,
        "extensions": list(stub.ServerMetadata(pb.ServerMetadataRequest()).extensions),
    }
    metadata = stub.ModelMetadata(pb.ModelMetadataRequest(name="resnet50"))
    result["inputs"] = [[t.name, t.datatype, list(t.shape)] for t in metadata.inputs]

    request = pb.ModelInferRequest(model_name="resnet50", id="python-1")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 224, 224])
    request.raw_input_contents.append(open(tensor_file, "rb").read())
    request.outputs.add(name="logits")
    response = stub.ModelInfer(request, timeout=30)
    result["id"] = response.id
    result["logits"] = floats(response.raw_output_contents[0])

    image = open(image_file, "rb").read()
    request = pb.ModelInferRequest(model_name="resnet50")
    request.inputs.add(name="images", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(struct.pack("<I", len(image)) + image)
    output = request.outputs.add(name="probabilities")
    output.parameters["classification"].int64_param = 3
    response = stub.ModelInfer(request, timeout=30)
    result["classification"] = strings(response.raw_output_contents[0])
    result["classification_shape"] = list(response.outputs[0].shape)

    try:
        stub.ModelInfer(pb.ModelInferRequest(model_name="nope"), timeout=30)
    except grpc.RpcError as err:
        trailers = dict(err.trailing_metadata() or ())
        result["unknown_model"] = [err.code().name, trailers.get("x-error-code")]

    index = stub.RepositoryIndex(pb.RepositoryIndexRequest())
    result["index"] = [[m.name, m.version, m.state] for m in index.models]
    health = health_pb2_grpc.HealthStub(channel)
    result["health"] = health_pb2.HealthCheckResponse.ServingStatus.Name(
        health.Check(health_pb2.HealthCheckRequest(service="")).status
    )
    print(json.dumps(result))


main()
