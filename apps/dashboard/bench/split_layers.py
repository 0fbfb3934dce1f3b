"""Splits a Residuum CAE-like .onnx into one small model per layer (an op plus the activation right
after it; the scoring head is left out), with the batch fixed to 1 and static shapes, for bench/wasm-vs-native.ts. Prints one JSON
line per layer: file, op, input and output shapes, and multiply-adds for Conv / ConvTranspose.
Run: /usr/bin/python3 split_layers.py MODEL.onnx OUT_DIR PREFIX   (Debian python3-onnx)"""
import json
import os
import sys

import onnx
from onnx import TensorProto, helper, shape_inference

src, out_dir, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out_dir, exist_ok=True)
model = onnx.load(src)
graph = model.graph
for value in list(graph.input) + list(graph.output):
    value.type.tensor_type.shape.dim[0].dim_value = 1
model = shape_inference.infer_shapes(model)
shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
          for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
inits = {i.name: i for i in model.graph.initializer}
# The converter's scoring head (the anomaly map computed in the graph, outputs 'head/...' and
# 'anomaly_map') is many small two-input ops: it is timed with the whole model, not per layer.
nodes = [n for n in model.graph.node if not (n.output[0].startswith('head/') or n.output[0] == 'anomaly_map')]
opset = [o for o in model.opset_import if o.domain in ('', 'ai.onnx')][0].version


i = k = 0
while i < len(nodes):
    group = [nodes[i]]
    if nodes[i].op_type in ('Conv', 'ConvTranspose') and i + 1 < len(nodes) and nodes[i + 1].op_type in ('Relu', 'Sigmoid', 'LeakyRelu', 'Tanh'):
        group.append(nodes[i + 1])
    x, y = group[0].input[0], group[-1].output[0]
    if x not in shapes or y not in shapes or any(d <= 0 for d in shapes[x] + shapes[y]):
        raise SystemExit(f'{src}: no static shape for {group[0].name or group[0].op_type} ({x} -> {y})')
    renamed = []
    for node in group:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        for j, name in enumerate(copy.input):
            if name == x:
                copy.input[j] = 'x'
        for j, name in enumerate(copy.output):
            if name == y:
                copy.output[j] = 'y'
        renamed.append(copy)
    used = [inits[name] for node in group for name in node.input if name in inits]
    layer = helper.make_model(
        helper.make_graph(renamed, f'layer{k}', [helper.make_tensor_value_info('x', TensorProto.FLOAT, shapes[x])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, shapes[y])], used),
        opset_imports=[helper.make_opsetid('', opset)])
    layer.ir_version = model.ir_version
    op = '+'.join(n.op_type for n in group)
    file = f'{prefix}-{k:02d}-{op}.onnx'
    onnx.save(layer, os.path.join(out_dir, file))
    macs = 0
    head = group[0]
    if head.op_type in ('Conv', 'ConvTranspose'):
        weight = [d for d in inits[head.input[1]].dims]
        kernel = weight[2] * weight[3]
        if head.op_type == 'Conv':  # weight: Cout, Cin/g, kh, kw; per output value Cin/g*kh*kw MACs
            macs = shapes[y][1] * shapes[y][2] * shapes[y][3] * weight[1] * kernel
        else:  # weight: Cin, Cout/g, kh, kw; every input value meets Cout/g*kh*kw weights
            macs = shapes[x][1] * shapes[x][2] * shapes[x][3] * weight[1] * kernel
    print(json.dumps({'file': file, 'op': op, 'input': shapes[x], 'output': shapes[y], 'macs': macs}))
    i += len(group)
    k += 1
