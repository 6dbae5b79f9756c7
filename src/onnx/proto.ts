/** protobufjs codec for ONNX ModelProto, built once from the schema text. */
import protobuf from 'protobufjs';
import Long from 'long';
import { ONNX_PROTO } from './schema.js';

// int64 fields decode to Long objects; make sure protobufjs uses the same Long class we test against.
protobuf.util.Long = Long;
protobuf.configure();

let cached: protobuf.Type | undefined;

export function modelType(): protobuf.Type {
  if (!cached) cached = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return cached;
}
