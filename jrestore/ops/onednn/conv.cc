// oneDNN 2-D convolutions (forward, input gradient, filter gradient) as XLA FFI handlers for JAX on CPU.
//
// Layouts are jrestore's: activations NHWC, filters HWIO ([KH, KW, C/groups, O]), float32.
// Every operand may carry leading "vmap" dimensions before its last four ([*outer, N, H, W, C]): JAX's
// vmap_method="expand_dims" gives unbatched operands size-1 outer dimensions, so an operand whose outer
// dimension is 1 is broadcast. When the filter is not batched the outer dimensions are folded into N (one
// oneDNN call); otherwise each outer index runs its own call.
//
// Activations stay in the NHWC buffers XLA owns (oneDNN's jit kernels read and write nhwc directly, as
// PyTorch's channels_last does); the filter is given to oneDNN in the layout it prefers (format_tag::any)
// and reordered from / to HWIO, which costs O(KH*KW*C*O), not O(N*H*W).
//
// Creating a oneDNN primitive costs milliseconds, so primitives are cached by their full shape key in a
// mutex-guarded map. Executions use a user-provided scratchpad (thread-local), so the same primitive could run
// on several XLA threads at once; they are serialised anyway (see run_mutex in run()).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <omp.h>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using dims_t = dnnl::memory::dims;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// 64-byte aligned, grow-only buffer (oneDNN's kernels prefer cache-line aligned memory).
struct AlignedBuffer {
  void* data = nullptr;
  size_t size = 0;
  ~AlignedBuffer() { std::free(data); }
  void* get(size_t bytes) {
    if (bytes > size) {
      std::free(data);
      size = (bytes + 63) / 64 * 64;
      data = std::aligned_alloc(64, size);
      if (data == nullptr) size = 0;
    }
    return data;
  }
};

// Filter reorders move a few thousand floats (0.06 ms); run them on the calling thread. An OpenMP parallel region
// for them only adds a barrier, which costs milliseconds whenever the machine is loaded and a worker is
// descheduled (measured: 50 reorders per DnCNN-17 train step, 2-8 ms each under load). libgomp's thread count
// is per calling thread, so this does not touch other threads.
void reorder_on_this_thread(const dnnl::reorder& reorder, dnnl::stream& stream, dnnl::memory& from,
                            dnnl::memory& to) {
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  reorder.execute(stream, from, to);
  omp_set_num_threads(threads);
}

thread_local AlignedBuffer tls_scratchpad;
thread_local AlignedBuffer tls_weights;

struct Geometry {
  int64_t n, c, h, w;   // input [N, H, W, C]
  int64_t o, kh, kw;    // filter [KH, KW, C/groups, O]
  int64_t oh, ow;       // output [N, OH, OW, O]
  int64_t groups;
  dims_t strides, dilation, pad_lo, pad_hi;  // dilation in oneDNN's convention (XLA's minus 1)

  std::string key(char kind) const {
    std::string k(1, kind);
    for (int64_t v : {n, c, h, w, o, kh, kw, oh, ow, groups}) k += "," + std::to_string(v);
    for (const dims_t* d : {&strides, &dilation, &pad_lo, &pad_hi})
      for (int64_t v : *d) k += "," + std::to_string(v);
    return k;
  }
  dnnl::memory::desc src_md() const {
    return dnnl::memory::desc({n, c, h, w}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc);
  }
  dnnl::memory::desc dst_md() const {
    return dnnl::memory::desc({n, o, oh, ow}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc);
  }
  // HWIO as oneDNN dims: (O, I, KH, KW), or (G, O/G, I/G, KH, KW) with groups; given by strides.
  dnnl::memory::desc hwio_md() const {
    const int64_t ig = c / groups;
    if (groups == 1)
      return dnnl::memory::desc({o, ig, kh, kw}, dnnl::memory::data_type::f32,
                                dims_t{1, o, kw * ig * o, ig * o});
    const int64_t og = o / groups;
    return dnnl::memory::desc({groups, og, ig, kh, kw}, dnnl::memory::data_type::f32,
                              dims_t{og, 1, o, kw * ig * o, ig * o});
  }
  dnnl::memory::desc any_weights_md() const {
    const int64_t ig = c / groups;
    dims_t d = groups == 1 ? dims_t{o, ig, kh, kw} : dims_t{groups, o / groups, ig, kh, kw};
    return dnnl::memory::desc(d, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
  }
};

dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Geometry& g) {
  return dnnl::convolution_forward::primitive_desc(
      cpu_engine(), dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, g.src_md(),
      g.any_weights_md(), g.dst_md(), g.strides, g.dilation, g.pad_lo, g.pad_hi, user_scratchpad_attr());
}

// One cached convolution: the primitive, its scratchpad size, and the filter reorder between HWIO and the
// primitive's preferred layout (absent when they agree).
struct Entry {
  dnnl::primitive conv;
  dnnl::memory::desc weights_md;  // the layout the primitive wants
  dnnl::memory::desc hwio_md;
  bool needs_reorder = false;
  dnnl::reorder reorder;          // HWIO -> weights_md (forward, backward-data) or back (backward-weights)
  size_t scratchpad_bytes = 0;
};

std::mutex cache_mutex;
std::unordered_map<std::string, std::shared_ptr<const Entry>> cache;

std::shared_ptr<const Entry> make_entry(char kind, const Geometry& g) {
  auto entry = std::make_shared<Entry>();
  entry->hwio_md = g.hwio_md();
  dnnl::memory::desc scratch_md;
  if (kind == 'f') {
    auto pd = forward_pd(g);
    entry->conv = dnnl::convolution_forward(pd);
    entry->weights_md = pd.weights_desc();
    scratch_md = pd.scratchpad_desc();
  } else if (kind == 'd') {
    auto pd = dnnl::convolution_backward_data::primitive_desc(
        cpu_engine(), dnnl::algorithm::convolution_direct, g.src_md(), g.any_weights_md(), g.dst_md(), g.strides,
        g.dilation, g.pad_lo, g.pad_hi, forward_pd(g), user_scratchpad_attr());
    entry->conv = dnnl::convolution_backward_data(pd);
    entry->weights_md = pd.weights_desc();
    scratch_md = pd.scratchpad_desc();
  } else {
    auto pd = dnnl::convolution_backward_weights::primitive_desc(
        cpu_engine(), dnnl::algorithm::convolution_direct, g.src_md(), g.any_weights_md(), g.dst_md(), g.strides,
        g.dilation, g.pad_lo, g.pad_hi, forward_pd(g), user_scratchpad_attr());
    entry->conv = dnnl::convolution_backward_weights(pd);
    entry->weights_md = pd.diff_weights_desc();
    scratch_md = pd.scratchpad_desc();
  }
  entry->scratchpad_bytes = scratch_md.get_size();
  entry->needs_reorder = entry->weights_md != entry->hwio_md;
  if (entry->needs_reorder) {
    if (kind == 'w')
      entry->reorder = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), entry->weights_md, cpu_engine(),
                                                                   entry->hwio_md));
    else
      entry->reorder = dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), entry->hwio_md, cpu_engine(),
                                                                   entry->weights_md));
  }
  return entry;
}

std::shared_ptr<const Entry> get_entry(char kind, const Geometry& g) {
  const std::string key = g.key(kind);
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  auto entry = make_entry(kind, g);  // slow: outside the lock; a racing duplicate is harmless
  std::lock_guard<std::mutex> lock(cache_mutex);
  return cache.emplace(key, entry).first->second;
}

// Runs one convolution of `kind` ('f' forward, 'd' input gradient, 'w' filter gradient) on raw pointers.
// f: a = x, b = hwio filter, out = y.   d: a = dy, b = hwio filter, out = dx.   w: a = x, b = dy, out = hwio dw.
void run_one(char kind, const Geometry& g, const Entry& e, dnnl::stream& stream, float* a, float* b, float* out) {
  dnnl::engine& eng = cpu_engine();
  void* scratch = tls_scratchpad.get(std::max<size_t>(e.scratchpad_bytes, 64));
  if (scratch == nullptr) throw std::bad_alloc();
  dnnl::memory scratch_mem(dnnl::memory::desc({static_cast<int64_t>(e.scratchpad_bytes)},
                                              dnnl::memory::data_type::u8, dnnl::memory::format_tag::a),
                           eng, scratch);
  if (kind == 'w') {
    dnnl::memory src(g.src_md(), eng, a), ddst(g.dst_md(), eng, b), dw_user(e.hwio_md, eng, out);
    dnnl::memory dw = dw_user;
    if (e.needs_reorder) {
      void* tmp = tls_weights.get(e.weights_md.get_size());
      if (tmp == nullptr) throw std::bad_alloc();
      dw = dnnl::memory(e.weights_md, eng, tmp);
    }
    e.conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dw},
                            {DNNL_ARG_SCRATCHPAD, scratch_mem}});
    if (e.needs_reorder) reorder_on_this_thread(e.reorder, stream, dw, dw_user);
    stream.wait();
    return;
  }
  dnnl::memory w_user(e.hwio_md, eng, b), w = w_user;
  if (e.needs_reorder) {
    void* tmp = tls_weights.get(e.weights_md.get_size());
    if (tmp == nullptr) throw std::bad_alloc();
    w = dnnl::memory(e.weights_md, eng, tmp);
    reorder_on_this_thread(e.reorder, stream, w_user, w);
  }
  if (kind == 'f') {
    dnnl::memory src(g.src_md(), eng, a), dst(g.dst_md(), eng, out);
    e.conv.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst},
                            {DNNL_ARG_SCRATCHPAD, scratch_mem}});
  } else {
    dnnl::memory ddst(g.dst_md(), eng, a), dsrc(g.src_md(), eng, out);
    e.conv.execute(stream, {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dsrc},
                            {DNNL_ARG_SCRATCHPAD, scratch_mem}});
  }
  stream.wait();
}

int64_t product(ffi::Span<const int64_t> d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= d[i];
  return p;
}

// Shared driver. `act` is the activation operand whose last four dims are [N, H, W, C] (x for f and w; the
// result dx for d), `a`/`b`/`out` as in run_one. Outer (vmap) dimensions: the result's leading dims; each
// operand either matches them or is broadcast (size 1 / absent).
ffi::Error run(char kind, ffi::AnyBuffer a, ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> out,
               ffi::Span<const int64_t> strides, ffi::Span<const int64_t> pad_lo, ffi::Span<const int64_t> pad_hi,
               ffi::Span<const int64_t> dilation, int64_t groups) {
  auto ad = a.dimensions(), bd = b.dimensions(), od = out->dimensions();
  if (ad.size() < 4 || bd.size() < 4 || od.size() < 4 || strides.size() != 2 || pad_lo.size() != 2 ||
      pad_hi.size() != 2 || dilation.size() != 2 || groups < 1)
    return ffi::Error::InvalidArgument("jrestore_onednn_conv: operands need rank >= 4 and 2-element attributes");
  for (auto* buf : {&a, &b}) {
    if (buf->element_type() != ffi::DataType::F32)
      return ffi::Error::InvalidArgument("jrestore_onednn_conv: float32 operands only");
  }
  const size_t outer_rank = od.size() - 4;
  if (ad.size() - 4 > outer_rank || bd.size() - 4 > outer_rank)
    return ffi::Error::InvalidArgument("jrestore_onednn_conv: an operand has more batch dims than the result");
  // The three shapes as [N,H,W,C] input, [KH,KW,I,O] filter, [N,OH,OW,O] output.
  auto last4 = [](ffi::Span<const int64_t> d) { return ffi::Span<const int64_t>(d.begin() + d.size() - 4, 4); };
  ffi::Span<const int64_t> xs = last4(kind == 'd' ? od : ad);
  ffi::Span<const int64_t> ws = last4(kind == 'f' || kind == 'd' ? bd : od);
  ffi::Span<const int64_t> ys = last4(kind == 'f' ? od : (kind == 'd' ? ad : bd));
  Geometry g;
  g.n = xs[0], g.h = xs[1], g.w = xs[2], g.c = xs[3];
  g.kh = ws[0], g.kw = ws[1], g.o = ws[3], g.groups = groups;
  g.oh = ys[1], g.ow = ys[2];
  if (ws[2] * groups != g.c || ys[3] != g.o || ys[0] != g.n || g.o % groups)
    return ffi::Error::InvalidArgument("jrestore_onednn_conv: inconsistent channel or batch sizes");
  g.strides = {strides[0], strides[1]};
  g.dilation = {dilation[0] - 1, dilation[1] - 1};
  g.pad_lo = {pad_lo[0], pad_lo[1]};
  g.pad_hi = {pad_hi[0], pad_hi[1]};
  for (int i = 0; i < 2; ++i) {
    int64_t in = i == 0 ? g.h : g.w, k = i == 0 ? g.kh : g.kw, on = i == 0 ? g.oh : g.ow;
    int64_t expect = (in + pad_lo[i] + pad_hi[i] - (dilation[i] * (k - 1) + 1)) / strides[i] + 1;
    if (strides[i] < 1 || dilation[i] < 1 || pad_lo[i] < 0 || pad_hi[i] < 0 || expect != on)
      return ffi::Error::InvalidArgument("jrestore_onednn_conv: output size does not match stride/padding/dilation");
  }
  const size_t out_elems = out->element_count();
  if (out_elems == 0) return ffi::Error::Success();
  if (a.element_count() == 0 || b.element_count() == 0) {  // an empty batch: gradients are zero
    std::memset(out->untyped_data(), 0, out_elems * sizeof(float));
    return ffi::Error::Success();
  }
  // Outer dims of each operand, right-aligned against the result's (missing ones are size 1).
  std::vector<int64_t> outer(od.begin(), od.begin() + outer_rank), a_outer(outer_rank, 1), b_outer(outer_rank, 1);
  for (size_t i = 0; i < ad.size() - 4; ++i) a_outer[outer_rank - (ad.size() - 4) + i] = ad[i];
  for (size_t i = 0; i < bd.size() - 4; ++i) b_outer[outer_rank - (bd.size() - 4) + i] = bd[i];
  for (size_t i = 0; i < outer_rank; ++i)
    if ((a_outer[i] != 1 && a_outer[i] != outer[i]) || (b_outer[i] != 1 && b_outer[i] != outer[i]))
      return ffi::Error::InvalidArgument("jrestore_onednn_conv: batch dims do not broadcast");
  const int64_t n_outer = product(ffi::Span<const int64_t>(outer.data(), outer.size()), 0, outer_rank);
  float* pa = static_cast<float*>(a.untyped_data());
  float* pb = static_cast<float*>(b.untyped_data());
  float* po = static_cast<float*>(out->untyped_data());
  try {
    // One oneDNN convolution at a time: each already uses every core (OpenMP), and XLA may start independent
    // ones (a layer's input and filter gradients) on two of its threads at once; two OpenMP teams on the same
    // cores spin at each other's barriers.
    static std::mutex run_mutex;
    std::lock_guard<std::mutex> run_lock(run_mutex);
    thread_local dnnl::stream stream(cpu_engine());
    // The filter operand (b for f/d) unbatched and the activation operands all batched: fold outer into N.
    bool a_full = a_outer == outer, b_full = b_outer == outer;
    bool b_ones = std::all_of(b_outer.begin(), b_outer.end(), [](int64_t v) { return v == 1; });
    if (n_outer == 1 || (kind != 'w' && a_full && b_ones)) {
      Geometry gf = g;
      gf.n = g.n * n_outer;
      auto e = get_entry(kind, gf);
      run_one(kind, gf, *e, stream, pa, pb, po);
      return ffi::Error::Success();
    }
    auto e = get_entry(kind, g);
    const int64_t a_size = product(ad, ad.size() - 4, ad.size()), b_size = product(bd, bd.size() - 4, bd.size());
    const int64_t o_size = product(od, outer_rank, od.size());
    for (int64_t flat = 0; flat < n_outer; ++flat) {  // each outer index: broadcast offsets into a and b
      int64_t rest = flat, a_idx = 0, b_idx = 0, a_stride = 1, b_stride = 1;
      for (size_t i = outer_rank; i-- > 0;) {
        int64_t idx = rest % outer[i];
        rest /= outer[i];
        if (a_outer[i] != 1) a_idx += idx * a_stride;
        if (b_outer[i] != 1) b_idx += idx * b_stride;
        a_stride *= a_outer[i];
        b_stride *= b_outer[i];
      }
      run_one(kind, g, *e, stream, pa + a_idx * a_size, pb + b_idx * b_size, po + flat * o_size);
    }
  } catch (const dnnl::error& err) {
    return ffi::Error::Internal(std::string("jrestore_onednn_conv: oneDNN: ") + err.what());
  } catch (const std::bad_alloc&) {
    return ffi::Error::Internal("jrestore_onednn_conv: out of memory");
  }
  return ffi::Error::Success();
}

ffi::Error forward(ffi::AnyBuffer x, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> y, ffi::Span<const int64_t> s,
                   ffi::Span<const int64_t> lo, ffi::Span<const int64_t> hi, ffi::Span<const int64_t> d, int64_t g) {
  return run('f', x, w, y, s, lo, hi, d, g);
}
ffi::Error backward_data(ffi::AnyBuffer dy, ffi::AnyBuffer w, ffi::Result<ffi::AnyBuffer> dx,
                         ffi::Span<const int64_t> s, ffi::Span<const int64_t> lo, ffi::Span<const int64_t> hi,
                         ffi::Span<const int64_t> d, int64_t g) {
  return run('d', dy, w, dx, s, lo, hi, d, g);
}
ffi::Error backward_weights(ffi::AnyBuffer x, ffi::AnyBuffer dy, ffi::Result<ffi::AnyBuffer> dw,
                            ffi::Span<const int64_t> s, ffi::Span<const int64_t> lo, ffi::Span<const int64_t> hi,
                            ffi::Span<const int64_t> d, int64_t g) {
  return run('w', x, dy, dw, s, lo, hi, d, g);
}

}  // namespace

// The three handlers share one signature: two operands, one result, the convolution's attributes.
#define JR_CONV_BINDING                                 \
  ffi::Ffi::Bind()                                      \
      .Arg<ffi::AnyBuffer>()                            \
      .Arg<ffi::AnyBuffer>()                            \
      .Ret<ffi::AnyBuffer>()                            \
      .Attr<ffi::Span<const int64_t>>("window_strides") \
      .Attr<ffi::Span<const int64_t>>("padding_lo")     \
      .Attr<ffi::Span<const int64_t>>("padding_hi")     \
      .Attr<ffi::Span<const int64_t>>("rhs_dilation")   \
      .Attr<int64_t>("groups")

XLA_FFI_DEFINE_HANDLER_SYMBOL(JrOnednnConvForward, forward, JR_CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(JrOnednnConvBackwardData, backward_data, JR_CONV_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(JrOnednnConvBackwardWeights, backward_weights, JR_CONV_BINDING);
