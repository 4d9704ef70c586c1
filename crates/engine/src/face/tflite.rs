//! MediaPipe's `.tflite` models, run by tract.
//!
//! tract's TFLite front end lacks three things these files use: `DEQUANTIZE`
//! (their weights are stored as f16), `DENSIFY` (the full-range detector's
//! weights are sparse) and `PRELU`. Before tract reads a model, the graph is
//! rewritten once: constant f16 and sparse weights become dense f32
//! constants, and each PRELU becomes `relu(x) + alpha * (x - relu(x))`.

use crate::error::{EngineError, Result};
use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use std::collections::HashMap;
use std::path::Path;
use tract_tflite::prelude::*;
use tract_tflite::tflite as fb;

/// A loaded, optimised model with one f32 NHWC image input.
pub struct TfliteModel {
    plan: std::sync::Arc<TypedSimplePlan>,
    pub input_size: (usize, usize),
    name: String,
}

impl TfliteModel {
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| EngineError::ModelMissing {
            path: path.to_path_buf(),
            hint: format!("cannot read it ({e}); scripts/setup.sh installs the models"),
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::from_bytes(&bytes, &name)
    }

    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self> {
        let bad = |reason: String| EngineError::ModelCorrupt {
            path: name.into(),
            reason,
        };
        let normalized = normalize(bytes).map_err(bad)?;
        let model = tract_tflite::tflite()
            .model_for_read(&mut &normalized[..])
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| bad(format!("{e:#}")))?;
        let fact = model
            .model()
            .input_fact(0)
            .map_err(|e| bad(format!("{e:#}")))?;
        let shape: Vec<usize> = fact
            .shape
            .as_concrete()
            .map(<[usize]>::to_vec)
            .unwrap_or_default();
        let [1, h, w, 3] = shape[..] else {
            return Err(bad(format!("unexpected input shape {shape:?}")));
        };
        Ok(Self {
            plan: model,
            input_size: (w, h),
            name: name.to_string(),
        })
    }

    /// Runs on one HWC f32 image of the model's input size; returns each
    /// output flattened.
    pub fn run(&self, input: Vec<f32>) -> Result<Vec<Vec<f32>>> {
        let (w, h) = self.input_size;
        let bad = |e: TractError| EngineError::ModelCorrupt {
            path: (&self.name).into(),
            reason: format!("{e:#}"),
        };
        let tensor = Tensor::from_shape(&[1, h, w, 3], &input).map_err(bad)?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(bad)?;
        outputs
            .iter()
            .map(|t| {
                t.to_plain_array_view::<f32>()
                    .map(|v| v.iter().copied().collect())
                    .map_err(bad)
            })
            .collect()
    }
}

/// One tensor of the rewritten graph.
struct TensorSpec {
    name: String,
    shape: Vec<i32>,
    ty: fb::TensorType,
    /// Index into the new buffer list (0 = no data).
    buffer: u32,
}

struct OpSpec {
    code: i32,
    custom: Option<String>,
    version: i32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Options,
}

/// The builtin options the MediaPipe face models use, copied field by field.
enum Options {
    None,
    Conv(fb::Conv2DOptionsArgs),
    Depthwise(fb::DepthwiseConv2DOptionsArgs),
    Add(fb::AddOptionsArgs),
    Sub(fb::SubOptionsArgs),
    Mul(fb::MulOptionsArgs),
    Pool(fb::Pool2DOptionsArgs),
    Concat(fb::ConcatenationOptionsArgs),
    Reshape(Option<Vec<i32>>),
    StridedSlice(fb::StridedSliceOptionsArgs),
    ResizeBilinear(fb::ResizeBilinearOptionsArgs),
    DepthToSpace(fb::DepthToSpaceOptionsArgs),
    Pad,
}

fn opcode_of(code: &fb::OperatorCode) -> i32 {
    let deprecated = i32::from(code.deprecated_builtin_code());
    if deprecated == fb::BuiltinOperator::PLACEHOLDER_FOR_GREATER_OP_CODES.0 {
        code.builtin_code().0
    } else {
        deprecated.max(code.builtin_code().0)
    }
}

fn f16_to_f32_bytes(data: &[u8]) -> Vec<u8> {
    data.chunks_exact(2)
        .flat_map(|c| {
            half::f16::from_le_bytes([c[0], c[1]])
                .to_f32()
                .to_le_bytes()
        })
        .collect()
}

fn element_size(ty: fb::TensorType) -> std::result::Result<usize, String> {
    Ok(match ty {
        fb::TensorType::FLOAT32 | fb::TensorType::INT32 => 4,
        fb::TensorType::FLOAT16 | fb::TensorType::INT16 => 2,
        fb::TensorType::INT8 | fb::TensorType::UINT8 => 1,
        fb::TensorType::INT64 => 8,
        other => return Err(format!("tensor type {other:?} is not supported")),
    })
}

/// Dense bytes of a sparse constant (TFLite's sparsity format: levels in
/// traversal order, each dense or CSR, with optional block dimensions).
fn densify(tensor: &fb::Tensor, data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let sparsity = tensor.sparsity().ok_or("DENSIFY input is not sparse")?;
    let shape: Vec<usize> = tensor
        .shape()
        .ok_or("sparse tensor without a shape")?
        .iter()
        .map(|d| usize::try_from(d).map_err(|_| "negative dimension".to_string()))
        .collect::<std::result::Result<_, _>>()?;
    let esize = element_size(tensor.type_())?;
    let order: Vec<usize> = sparsity
        .traversal_order()
        .ok_or("no traversal order")?
        .iter()
        .map(|d| d as usize)
        .collect();
    let block_map: Vec<usize> = sparsity
        .block_map()
        .map(|b| b.iter().map(|d| d as usize).collect())
        .unwrap_or_default();
    let metas = sparsity.dim_metadata().ok_or("no dimension metadata")?;
    if metas.len() != order.len() || order.len() != shape.len() + block_map.len() {
        return Err("inconsistent sparsity metadata".into());
    }
    // Per level: Dense(size) or Csr(segments, indices).
    enum Level {
        Dense(usize),
        Csr(Vec<usize>, Vec<usize>),
    }
    let vec_of = |seg: Option<Vec<usize>>| seg.ok_or_else(|| "missing CSR array".to_string());
    let mut levels = Vec::with_capacity(metas.len());
    for m in metas.iter() {
        if m.format() == fb::DimensionType::DENSE {
            levels.push(Level::Dense(usize::try_from(m.dense_size()).unwrap_or(0)));
        } else {
            let segments = m
                .array_segments_as_int_32_vector()
                .and_then(|v| v.values())
                .map(|v| v.iter().map(|x| x.max(0) as usize).collect())
                .or_else(|| {
                    m.array_segments_as_uint_16_vector()
                        .and_then(|v| v.values())
                        .map(|v| v.iter().map(usize::from).collect())
                })
                .or_else(|| {
                    m.array_segments_as_uint_8_vector()
                        .and_then(|v| v.values())
                        .map(|v| v.iter().map(usize::from).collect())
                });
            let indices = m
                .array_indices_as_int_32_vector()
                .and_then(|v| v.values())
                .map(|v| v.iter().map(|x| x.max(0) as usize).collect())
                .or_else(|| {
                    m.array_indices_as_uint_16_vector()
                        .and_then(|v| v.values())
                        .map(|v| v.iter().map(usize::from).collect())
                })
                .or_else(|| {
                    m.array_indices_as_uint_8_vector()
                        .and_then(|v| v.values())
                        .map(|v| v.iter().map(usize::from).collect())
                });
            levels.push(Level::Csr(vec_of(segments)?, vec_of(indices)?));
        }
    }
    let rank = shape.len();
    let block_sizes: Vec<usize> = (0..block_map.len())
        .map(|i| match levels.get(rank + i) {
            Some(Level::Dense(s)) => *s,
            _ => 1,
        })
        .collect();
    let total: usize = shape.iter().product();
    let mut out = vec![0u8; total * esize];
    let mut next_value = 0usize;
    let mut indices = vec![0usize; levels.len()];

    // Depth-first walk over the levels; each leaf consumes the next value.
    struct Walk<'a> {
        levels: &'a [Level],
        order: &'a [usize],
        block_map: &'a [usize],
        block_sizes: &'a [usize],
        shape: &'a [usize],
        data: &'a [u8],
        esize: usize,
    }
    fn visit(
        w: &Walk,
        level: usize,
        prev: usize,
        indices: &mut [usize],
        next_value: &mut usize,
        out: &mut [u8],
    ) -> std::result::Result<(), String> {
        if level == w.levels.len() {
            let rank = w.shape.len();
            let mut orig = vec![0usize; rank];
            for (&dim, &index) in w.order.iter().zip(indices.iter()).take(rank) {
                *orig.get_mut(dim).ok_or("bad order")? = index;
            }
            for (&level_dim, &index) in w.order.iter().zip(indices.iter()).skip(rank) {
                let block = level_dim.checked_sub(rank).ok_or("bad block order")?;
                let dim = *w.block_map.get(block).ok_or("bad block map")?;
                let size = *w.block_sizes.get(block).ok_or("bad block map")?;
                let o = orig.get_mut(dim).ok_or("bad block map")?;
                *o = *o * size + index;
            }
            let mut flat = 0usize;
            for (d, &i) in orig.iter().enumerate() {
                if i >= w.shape[d] {
                    return Err("sparse index out of range".into());
                }
                flat = flat * w.shape[d] + i;
            }
            let src = w
                .data
                .get(*next_value * w.esize..(*next_value + 1) * w.esize)
                .ok_or("sparse data too short")?;
            out[flat * w.esize..(flat + 1) * w.esize].copy_from_slice(src);
            *next_value += 1;
            return Ok(());
        }
        match &w.levels[level] {
            Level::Dense(size) => {
                for i in 0..*size {
                    indices[level] = i;
                    visit(w, level + 1, prev * size + i, indices, next_value, out)?;
                }
            }
            Level::Csr(segments, idx) => {
                if prev + 1 < segments.len() {
                    for i in segments[prev]..segments[prev + 1] {
                        indices[level] = *idx.get(i).ok_or("CSR index out of range")?;
                        visit(w, level + 1, i, indices, next_value, out)?;
                    }
                }
            }
        }
        Ok(())
    }
    let walk = Walk {
        levels: &levels,
        order: &order,
        block_map: &block_map,
        block_sizes: &block_sizes,
        shape: &shape,
        data,
        esize,
    };
    visit(&walk, 0, 0, &mut indices, &mut next_value, &mut out)?;
    Ok(out)
}

/// Rewrites a model so tract's TFLite front end can read it (see the module note).
pub fn normalize(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let model = fb::root_as_model(bytes).map_err(|e| format!("not a TFLite model: {e}"))?;
    let subgraphs = model.subgraphs().ok_or("no subgraph")?;
    if subgraphs.len() != 1 {
        return Err(format!("{} subgraphs, expected one", subgraphs.len()));
    }
    let graph = subgraphs.get(0);
    let codes = model.operator_codes().ok_or("no operator codes")?;
    let src_buffers = model.buffers().ok_or("no buffers")?;
    let src_tensors = graph.tensors().ok_or("no tensors")?;

    let mut buffers: Vec<Vec<u8>> = vec![Vec::new()];
    let mut tensors: Vec<TensorSpec> = Vec::with_capacity(src_tensors.len());
    // Constant data per tensor, before it is given a buffer.
    let mut constants: HashMap<usize, Vec<u8>> = HashMap::new();
    for (i, t) in src_tensors.iter().enumerate() {
        if let Some(q) = t.quantization() {
            if q.scale().is_some_and(|s| !s.is_empty()) {
                return Err(format!(
                    "tensor {i} is quantized; only float models are supported"
                ));
            }
        }
        let data = src_buffers
            .get(t.buffer() as usize)
            .data()
            .map(|d| d.bytes().to_vec())
            .filter(|d| !d.is_empty());
        if let Some(d) = data {
            constants.insert(i, d);
        }
        tensors.push(TensorSpec {
            name: t.name().unwrap_or_default().to_string(),
            shape: t.shape().map(|s| s.iter().collect()).unwrap_or_default(),
            ty: t.type_(),
            buffer: 0,
        });
    }

    let operators = graph.operators().ok_or("no operators")?;
    let mut ops: Vec<OpSpec> = Vec::with_capacity(operators.len());
    for op in operators.iter() {
        let code_table = codes.get(op.opcode_index() as usize);
        let code = opcode_of(&code_table);
        let inputs: Vec<i32> = op.inputs().map(|v| v.iter().collect()).unwrap_or_default();
        let outputs: Vec<i32> = op.outputs().map(|v| v.iter().collect()).unwrap_or_default();
        let input = |k: usize| -> std::result::Result<usize, String> {
            inputs
                .get(k)
                .and_then(|&t| usize::try_from(t).ok())
                .ok_or_else(|| format!("operator {code} lacks input {k}"))
        };
        let output = |k: usize| -> std::result::Result<usize, String> {
            outputs
                .get(k)
                .and_then(|&t| usize::try_from(t).ok())
                .ok_or_else(|| format!("operator {code} lacks output {k}"))
        };
        match fb::BuiltinOperator(code) {
            fb::BuiltinOperator::DENSIFY => {
                let (src, dst) = (input(0)?, output(0)?);
                let data = constants.get(&src).ok_or("DENSIFY of a non-constant")?;
                let dense = densify(&src_tensors.get(src), data)?;
                constants.insert(dst, dense);
            }
            fb::BuiltinOperator::DEQUANTIZE => {
                let (src, dst) = (input(0)?, output(0)?);
                let data = constants.get(&src).ok_or("DEQUANTIZE of a non-constant")?;
                let converted = match tensors[src].ty {
                    fb::TensorType::FLOAT16 => f16_to_f32_bytes(data),
                    fb::TensorType::FLOAT32 => data.clone(),
                    other => return Err(format!("DEQUANTIZE from {other:?}")),
                };
                constants.insert(dst, converted);
                tensors[dst].ty = fb::TensorType::FLOAT32;
            }
            fb::BuiltinOperator::DEPTH_TO_SPACE => {
                // reshape [n,h,w,b,b,c] -> transpose [n,h,b,w,b,c] -> reshape [n,hb,wb,c]
                let block = op
                    .builtin_options_as_depth_to_space_options()
                    .map(|o| o.block_size())
                    .ok_or("depth-to-space options")?;
                let (x, out) = (input(0)?, output(0)?);
                let [n, h, w, c] = tensors[x].shape[..] else {
                    return Err("DEPTH_TO_SPACE input is not rank 4".into());
                };
                let c_out = c / (block * block);
                let base = tensors[out].name.clone();
                let final_shape = tensors[out].shape.clone();
                let mut add_tensor =
                    |suffix: &str, shape: Vec<i32>, ty, data: Option<Vec<u8>>| -> i32 {
                        tensors.push(TensorSpec {
                            name: format!("{base}/{suffix}"),
                            shape,
                            ty,
                            buffer: 0,
                        });
                        let id = tensors.len() - 1;
                        if let Some(d) = data {
                            constants.insert(id, d);
                        }
                        id as i32
                    };
                let i32_bytes =
                    |v: &[i32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
                let split = vec![n, h, w, block, block, c_out];
                let moved = vec![n, h, block, w, block, c_out];
                let f32t = fb::TensorType::FLOAT32;
                let i32t = fb::TensorType::INT32;
                let split_shape = add_tensor("split_shape", vec![6], i32t, Some(i32_bytes(&split)));
                let split_t = add_tensor("split", split.clone(), f32t, None);
                let perm = add_tensor("perm", vec![6], i32t, Some(i32_bytes(&[0, 1, 3, 2, 4, 5])));
                let moved_t = add_tensor("moved", moved, f32t, None);
                let out_shape =
                    add_tensor("out_shape", vec![4], i32t, Some(i32_bytes(&final_shape)));
                let plain =
                    |code: fb::BuiltinOperator, inputs: Vec<i32>, out: i32, options| OpSpec {
                        code: code.0,
                        custom: None,
                        version: 1,
                        inputs,
                        outputs: vec![out],
                        options,
                    };
                ops.push(plain(
                    fb::BuiltinOperator::RESHAPE,
                    vec![x as i32, split_shape],
                    split_t,
                    Options::Reshape(Some(split)),
                ));
                ops.push(plain(
                    fb::BuiltinOperator::TRANSPOSE,
                    vec![split_t, perm],
                    moved_t,
                    Options::None,
                ));
                ops.push(plain(
                    fb::BuiltinOperator::RESHAPE,
                    vec![moved_t, out_shape],
                    out as i32,
                    Options::Reshape(Some(final_shape)),
                ));
            }
            fb::BuiltinOperator::PRELU => {
                let (x, alpha, out) = (input(0)? as i32, input(1)?, output(0)?);
                let shape = tensors[out].shape.clone();
                let base = tensors[out].name.clone();
                let mut temp = |suffix: &str| -> i32 {
                    tensors.push(TensorSpec {
                        name: format!("{base}/{suffix}"),
                        shape: shape.clone(),
                        ty: fb::TensorType::FLOAT32,
                        buffer: 0,
                    });
                    (tensors.len() - 1) as i32
                };
                let (pos, neg, scaled) = (temp("relu"), temp("neg"), temp("scaled"));
                let simple =
                    |code: fb::BuiltinOperator, inputs: Vec<i32>, out: i32, options| OpSpec {
                        code: code.0,
                        custom: None,
                        version: 1,
                        inputs,
                        outputs: vec![out],
                        options,
                    };
                let none = fb::ActivationFunctionType::NONE;
                ops.push(simple(
                    fb::BuiltinOperator::RELU,
                    vec![x],
                    pos,
                    Options::None,
                ));
                ops.push(simple(
                    fb::BuiltinOperator::SUB,
                    vec![x, pos],
                    neg,
                    Options::Sub(fb::SubOptionsArgs {
                        fused_activation_function: none,
                        pot_scale_int16: false,
                    }),
                ));
                ops.push(simple(
                    fb::BuiltinOperator::MUL,
                    vec![neg, alpha as i32],
                    scaled,
                    Options::Mul(fb::MulOptionsArgs {
                        fused_activation_function: none,
                    }),
                ));
                ops.push(simple(
                    fb::BuiltinOperator::ADD,
                    vec![pos, scaled],
                    out as i32,
                    Options::Add(fb::AddOptionsArgs {
                        fused_activation_function: none,
                        pot_scale_int16: false,
                    }),
                ));
            }
            _ => {
                let options = copy_options(&op)?;
                ops.push(OpSpec {
                    code,
                    custom: code_table.custom_code().map(str::to_string),
                    version: code_table.version(),
                    inputs,
                    outputs,
                    options,
                });
            }
        }
    }

    // Give every constant still read by an operator (or a graph output) a buffer.
    let mut used: Vec<usize> = ops
        .iter()
        .flat_map(|o| o.inputs.iter().copied())
        .filter_map(|t| usize::try_from(t).ok())
        .collect();
    used.sort_unstable();
    used.dedup();
    for t in used {
        if let Some(data) = constants.remove(&t) {
            buffers.push(data);
            tensors[t].buffer = (buffers.len() - 1) as u32;
        }
    }

    let inputs: Vec<i32> = graph
        .inputs()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let outputs: Vec<i32> = graph
        .outputs()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    Ok(write(&buffers, &tensors, &ops, &inputs, &outputs))
}

fn copy_options(op: &fb::Operator) -> std::result::Result<Options, String> {
    let t = op.builtin_options_type();
    Ok(match t {
        fb::BuiltinOptions::NONE => Options::None,
        fb::BuiltinOptions::Conv2DOptions => {
            let o = op
                .builtin_options_as_conv_2_doptions()
                .ok_or("conv options")?;
            Options::Conv(fb::Conv2DOptionsArgs {
                padding: o.padding(),
                stride_w: o.stride_w(),
                stride_h: o.stride_h(),
                fused_activation_function: o.fused_activation_function(),
                dilation_w_factor: o.dilation_w_factor(),
                dilation_h_factor: o.dilation_h_factor(),
            })
        }
        fb::BuiltinOptions::DepthwiseConv2DOptions => {
            let o = op
                .builtin_options_as_depthwise_conv_2_doptions()
                .ok_or("depthwise options")?;
            Options::Depthwise(fb::DepthwiseConv2DOptionsArgs {
                padding: o.padding(),
                stride_w: o.stride_w(),
                stride_h: o.stride_h(),
                depth_multiplier: o.depth_multiplier(),
                fused_activation_function: o.fused_activation_function(),
                dilation_w_factor: o.dilation_w_factor(),
                dilation_h_factor: o.dilation_h_factor(),
            })
        }
        fb::BuiltinOptions::AddOptions => {
            let o = op.builtin_options_as_add_options().ok_or("add options")?;
            Options::Add(fb::AddOptionsArgs {
                fused_activation_function: o.fused_activation_function(),
                pot_scale_int16: o.pot_scale_int16(),
            })
        }
        fb::BuiltinOptions::SubOptions => {
            let o = op.builtin_options_as_sub_options().ok_or("sub options")?;
            Options::Sub(fb::SubOptionsArgs {
                fused_activation_function: o.fused_activation_function(),
                pot_scale_int16: o.pot_scale_int16(),
            })
        }
        fb::BuiltinOptions::MulOptions => {
            let o = op.builtin_options_as_mul_options().ok_or("mul options")?;
            Options::Mul(fb::MulOptionsArgs {
                fused_activation_function: o.fused_activation_function(),
            })
        }
        fb::BuiltinOptions::Pool2DOptions => {
            let o = op
                .builtin_options_as_pool_2_doptions()
                .ok_or("pool options")?;
            Options::Pool(fb::Pool2DOptionsArgs {
                padding: o.padding(),
                stride_w: o.stride_w(),
                stride_h: o.stride_h(),
                filter_width: o.filter_width(),
                filter_height: o.filter_height(),
                fused_activation_function: o.fused_activation_function(),
            })
        }
        fb::BuiltinOptions::ConcatenationOptions => {
            let o = op
                .builtin_options_as_concatenation_options()
                .ok_or("concat options")?;
            Options::Concat(fb::ConcatenationOptionsArgs {
                axis: o.axis(),
                fused_activation_function: o.fused_activation_function(),
            })
        }
        fb::BuiltinOptions::ReshapeOptions => {
            let o = op
                .builtin_options_as_reshape_options()
                .ok_or("reshape options")?;
            Options::Reshape(o.new_shape().map(|s| s.iter().collect()))
        }
        fb::BuiltinOptions::StridedSliceOptions => {
            let o = op
                .builtin_options_as_strided_slice_options()
                .ok_or("slice options")?;
            Options::StridedSlice(fb::StridedSliceOptionsArgs {
                begin_mask: o.begin_mask(),
                end_mask: o.end_mask(),
                ellipsis_mask: o.ellipsis_mask(),
                new_axis_mask: o.new_axis_mask(),
                shrink_axis_mask: o.shrink_axis_mask(),
            })
        }
        fb::BuiltinOptions::ResizeBilinearOptions => {
            let o = op
                .builtin_options_as_resize_bilinear_options()
                .ok_or("resize options")?;
            Options::ResizeBilinear(fb::ResizeBilinearOptionsArgs {
                align_corners: o.align_corners(),
                half_pixel_centers: o.half_pixel_centers(),
            })
        }
        fb::BuiltinOptions::DepthToSpaceOptions => {
            let o = op
                .builtin_options_as_depth_to_space_options()
                .ok_or("depth-to-space options")?;
            Options::DepthToSpace(fb::DepthToSpaceOptionsArgs {
                block_size: o.block_size(),
            })
        }
        fb::BuiltinOptions::PadOptions => Options::Pad,
        other => return Err(format!("operator options {other:?} are not supported")),
    })
}

fn write_options<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    options: &Options,
) -> (fb::BuiltinOptions, Option<WIPOffset<UnionWIPOffset>>) {
    use fb::BuiltinOptions as B;
    match options {
        Options::None => (B::NONE, None),
        Options::Conv(a) => (
            B::Conv2DOptions,
            Some(fb::Conv2DOptions::create(fbb, a).as_union_value()),
        ),
        Options::Depthwise(a) => (
            B::DepthwiseConv2DOptions,
            Some(fb::DepthwiseConv2DOptions::create(fbb, a).as_union_value()),
        ),
        Options::Add(a) => (
            B::AddOptions,
            Some(fb::AddOptions::create(fbb, a).as_union_value()),
        ),
        Options::Sub(a) => (
            B::SubOptions,
            Some(fb::SubOptions::create(fbb, a).as_union_value()),
        ),
        Options::Mul(a) => (
            B::MulOptions,
            Some(fb::MulOptions::create(fbb, a).as_union_value()),
        ),
        Options::Pool(a) => (
            B::Pool2DOptions,
            Some(fb::Pool2DOptions::create(fbb, a).as_union_value()),
        ),
        Options::Concat(a) => (
            B::ConcatenationOptions,
            Some(fb::ConcatenationOptions::create(fbb, a).as_union_value()),
        ),
        Options::Reshape(shape) => {
            let new_shape = shape.as_ref().map(|s| fbb.create_vector(s));
            let o = fb::ReshapeOptions::create(fbb, &fb::ReshapeOptionsArgs { new_shape });
            (B::ReshapeOptions, Some(o.as_union_value()))
        }
        Options::StridedSlice(a) => (
            B::StridedSliceOptions,
            Some(fb::StridedSliceOptions::create(fbb, a).as_union_value()),
        ),
        Options::ResizeBilinear(a) => (
            B::ResizeBilinearOptions,
            Some(fb::ResizeBilinearOptions::create(fbb, a).as_union_value()),
        ),
        Options::DepthToSpace(a) => (
            B::DepthToSpaceOptions,
            Some(fb::DepthToSpaceOptions::create(fbb, a).as_union_value()),
        ),
        Options::Pad => (
            B::PadOptions,
            Some(fb::PadOptions::create(fbb, &fb::PadOptionsArgs {}).as_union_value()),
        ),
    }
}

fn write(
    buffers: &[Vec<u8>],
    tensors: &[TensorSpec],
    ops: &[OpSpec],
    inputs: &[i32],
    outputs: &[i32],
) -> Vec<u8> {
    let mut fbb =
        FlatBufferBuilder::with_capacity(buffers.iter().map(Vec::len).sum::<usize>() + (1 << 16));
    // Operator codes, each (code, custom name) once.
    let mut code_index: HashMap<(i32, Option<String>), u32> = HashMap::new();
    let mut code_list: Vec<(i32, Option<String>, i32)> = Vec::new();
    let op_codes: Vec<u32> = ops
        .iter()
        .map(|o| {
            *code_index
                .entry((o.code, o.custom.clone()))
                .or_insert_with(|| {
                    code_list.push((o.code, o.custom.clone(), o.version));
                    (code_list.len() - 1) as u32
                })
        })
        .collect();

    let buffer_offsets: Vec<_> = buffers
        .iter()
        .map(|b| {
            let data = (!b.is_empty()).then(|| fbb.create_vector(b));
            fb::Buffer::create(&mut fbb, &fb::BufferArgs { data })
        })
        .collect();
    let tensor_offsets: Vec<_> = tensors
        .iter()
        .map(|t| {
            let shape = Some(fbb.create_vector(&t.shape));
            let name = Some(fbb.create_string(&t.name));
            fb::Tensor::create(
                &mut fbb,
                &fb::TensorArgs {
                    shape,
                    type_: t.ty,
                    buffer: t.buffer,
                    name,
                    ..Default::default()
                },
            )
        })
        .collect();
    let op_offsets: Vec<_> = ops
        .iter()
        .zip(&op_codes)
        .map(|(o, &opcode_index)| {
            let inputs = Some(fbb.create_vector(&o.inputs));
            let outputs = Some(fbb.create_vector(&o.outputs));
            let (builtin_options_type, builtin_options) = write_options(&mut fbb, &o.options);
            fb::Operator::create(
                &mut fbb,
                &fb::OperatorArgs {
                    opcode_index,
                    inputs,
                    outputs,
                    builtin_options_type,
                    builtin_options,
                    ..Default::default()
                },
            )
        })
        .collect();
    let code_offsets: Vec<_> = code_list
        .iter()
        .map(|(code, custom, version)| {
            let custom_code = custom.as_ref().map(|c| fbb.create_string(c));
            let deprecated = if *code < fb::BuiltinOperator::PLACEHOLDER_FOR_GREATER_OP_CODES.0 {
                *code as i8
            } else {
                fb::BuiltinOperator::PLACEHOLDER_FOR_GREATER_OP_CODES.0 as i8
            };
            fb::OperatorCode::create(
                &mut fbb,
                &fb::OperatorCodeArgs {
                    deprecated_builtin_code: deprecated,
                    custom_code,
                    version: *version,
                    builtin_code: fb::BuiltinOperator(*code),
                },
            )
        })
        .collect();
    let tensors_v = Some(fbb.create_vector(&tensor_offsets));
    let inputs_v = Some(fbb.create_vector(inputs));
    let outputs_v = Some(fbb.create_vector(outputs));
    let ops_v = Some(fbb.create_vector(&op_offsets));
    let graph = fb::SubGraph::create(
        &mut fbb,
        &fb::SubGraphArgs {
            tensors: tensors_v,
            inputs: inputs_v,
            outputs: outputs_v,
            operators: ops_v,
            name: None,
        },
    );
    let subgraphs = Some(fbb.create_vector(&[graph]));
    let operator_codes = Some(fbb.create_vector(&code_offsets));
    let buffers_v = Some(fbb.create_vector(&buffer_offsets));
    let model = fb::Model::create(
        &mut fbb,
        &fb::ModelArgs {
            version: 3,
            operator_codes,
            subgraphs,
            buffers: buffers_v,
            ..Default::default()
        },
    );
    fb::finish_model_buffer(&mut fbb, model);
    fbb.finished_data().to_vec()
}
