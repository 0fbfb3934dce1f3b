"""Generates an untrained CAE as ONNX for the runtime benchmark when no converted model exists:
the topology of @residuum/train's CAE (widths 32-64-128: conv3x3 [+BN folded] + ReLU + maxpool 2,
then conv-transpose 3x3 stride 2 + ReLU, a 3x3 conv to the input channels and a sigmoid), He-random
weights, IR 8 / opset 17, with a Residuum card. Speed only: the scores mean nothing.
Run: /usr/bin/python3 make_bench_cae.py SIZE OUT.onnx   (Debian python3-onnx)"""
import json
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

size, out = int(sys.argv[1]), sys.argv[2]
widths = [32, 64, 128]
rng = np.random.default_rng(size)
nodes, inits = [], []


def weight(name, shape, fan_in):
    inits.append(numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name))
    return name


def bias(name, n):
    inits.append(numpy_helper.from_array(np.zeros(n, np.float32), name))
    return name


x, c = 'input', 1
for i, w in enumerate(widths):
    nodes.append(helper.make_node('Conv', [x, weight(f'enc{i}_w', (w, c, 3, 3), 9 * c), bias(f'enc{i}_b', w)], [f'enc{i}_c'], pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
    nodes.append(helper.make_node('Relu', [f'enc{i}_c'], [f'enc{i}_r']))
    nodes.append(helper.make_node('MaxPool', [f'enc{i}_r'], [f'enc{i}_p'], kernel_shape=[2, 2], strides=[2, 2]))
    x, c = f'enc{i}_p', w
for i, w in enumerate(reversed(widths)):
    nodes.append(helper.make_node('ConvTranspose', [x, weight(f'dec{i}_w', (c, w, 3, 3), 9 * c), bias(f'dec{i}_b', w)], [f'dec{i}_c'],
                                  kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]))
    nodes.append(helper.make_node('Relu', [f'dec{i}_c'], [f'dec{i}_r']))
    x, c = f'dec{i}_r', w
nodes.append(helper.make_node('Conv', [x, weight('out_w', (1, c, 3, 3), 9 * c), bias('out_b', 1)], ['out_c'], pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
nodes.append(helper.make_node('Sigmoid', ['out_c'], ['reconstruction']))
shape = ['N', 1, size, size]
graph = helper.make_graph(nodes, 'bench_cae', [helper.make_tensor_value_info('input', TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info('reconstruction', TensorProto.FLOAT, shape)], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='residuum-bench')
model.ir_version = 8
card = {
    'schemaVersion': 1, 'family': 'cae', 'name': f'bench-cae-{size}',
    'description': 'Untrained CAE with random weights for the runtime benchmark (speed only).',
    'preprocessing': {'width': size, 'height': size, 'channels': 1, 'resize': 'fill', 'interpolation': 'bilinear', 'mean': [0.0], 'std': [1.0]},
    'input': {'name': 'input', 'layout': 'NCHW', 'shape': shape},
    'outputs': [{'name': 'reconstruction', 'meaning': 'reconstruction', 'shape': shape}],
    'score': {'map': {'kind': 'squared', 'channelReduction': 'mean', 'smoothingSigma': 0}, 'image': {'kind': 'mean'}},
    'threshold': {'value': 0.05, 'method': 'manual', 'params': {}, 'fittedOn': {'count': 0, 'normal': 0, 'anomalous': 0, 'source': 'manual (benchmark)'}},
    'calibration': {'count': 1, 'min': 0.0, 'max': 0.1, 'mean': 0.05, 'std': 0.01, 'quantiles': {}},
    'training': {'dataFingerprint': '0' * 64, 'dataDescription': 'none (random weights)', 'imageCount': 0, 'epochs': 0, 'seed': size, 'backend': 'none', 'loss': 'mse'},
    'createdAt': '2026-11-23T00:00:00.000Z',
    'producer': {'converter': 'make_bench_cae.py'},
}
for k, v in [('residuum.schema_version', '1'), ('residuum.family', 'cae'), ('residuum.card', json.dumps(card))]:
    e = model.metadata_props.add(); e.key = k; e.value = v
onnx.checker.check_model(model, full_check=True)
onnx.save(model, out)
print('wrote', out)
