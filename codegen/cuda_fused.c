/*
 * cuda_fused.c — batch-reduction kernels for Fused and LayerNorm nodes (see
 * cuda_fused.h for the model, ir/kernel_abi.h for the kernel ABI).
 *
 * The emitted unit has a fixed preamble (types, vector load/store helpers,
 * the row-offset rule) and a body generated from the program: one C
 * statement per instruction, ROW registers as float arrays of E elements
 * per thread (indexed only by unrolled loop counters, so they stay in
 * registers), SCALAR registers as single floats. Instructions are emitted
 * by "level": level 0 is everything computable from loads and constants,
 * then the reductions over level-0 registers are combined together (one
 * shuffle loop, one shared-memory exchange), then level 1, and so on. The
 * body is a template on the vector width, instantiated twice. The layout
 * (vector width, threads per row, rows per block) and the LayerNorm program
 * come from ir/kernel_abi.c, which the executor shares.
 */
#include "cuda_fused.h"

#include <math.h>
#include <string.h>

#include "ir/fused.h"

static const char *dtype_type(rg_dtype dtype) {
    switch (dtype) {
    case RG_DTYPE_F32: return "float";
    case RG_DTYPE_F16: return "__half";
    case RG_DTYPE_BF16: return "__nv_bfloat16";
    default: return NULL;
    }
}

/* ---------------------------------------------------------------- program */

static void emit_program_comment(rg_cg_emit *e, const rg_fused_program *p) {
    static const char *const load_modes[] = {"row", "scalar"};
    static const char *const store_modes[] = {"row", "scalar", "scalar_drop"};
    for (uint32_t i = 0; i < p->ninstr; i++) {
        rg_fused_instr in = rg_fused_instr_at(p, i);
        const char *name = rg_fused_op_name((rg_fused_opcode)in.op);
        switch (rg_fused_op_class(in.op)) {
        case 0:
            if (in.op == RG_FUSED_LOAD) rg_cg_emit_line(e, "//   %%%u = load in%d %s", i, in.a, load_modes[in.b]);
            else rg_cg_emit_line(e, "//   %%%u = const %.9g", i, (double)p->constants[in.a]);
            break;
        case 1:
        case 3: rg_cg_emit_line(e, "//   %%%u = %s %%%d", i, name, in.a); break;
        case 2: rg_cg_emit_line(e, "//   %%%u = %s %%%d, %%%d", i, name, in.a, in.b); break;
        default: rg_cg_emit_line(e, "//   store out%d %%%d %s", in.a, in.b, store_modes[in.c]); break;
        }
    }
}

/* The fixed part: types, helpers, the parameter struct. */
static void emit_preamble(rg_cg_emit *e, rg_dtype dtype, const rg_kabi_fused_kernel *k, int nreductions) {
    if (dtype == RG_DTYPE_F16) rg_cg_emit_line(e, "#include <cuda_fp16.h>");
    if (dtype == RG_DTYPE_BF16) rg_cg_emit_line(e, "#include <cuda_bf16.h>");
    rg_cg_emitf(e, "\n");
    rg_cg_emit_line(e, "namespace rg_kernel {");
    rg_cg_emitf(e, "\n");
    rg_cg_emit_line(e, "typedef %s rg_t;", dtype_type(dtype));
    rg_cg_emit_line(e, "constexpr int N = %lld;   // row length", (long long)k->row_length);
    rg_cg_emit_line(e, "constexpr int T = %d;   // threads per row", k->threads_per_row);
    rg_cg_emit_line(e, "constexpr int RPB = %d; // rows per block", k->rows_per_block);
    rg_cg_emit_line(e, "constexpr int W = %d;   // warps per row", k->threads_per_row > 32 ? k->threads_per_row / 32 : 1);
    rg_cg_emit_line(e, "constexpr int LANES = T < 32 ? T : 32;");
    rg_cg_emit_line(e, "static_assert(T * RPB <= 1024 && LANES <= 32 && (T <= 32 ? 32 %% T == 0 : T == 32 * W), \"layout\");");
    if (k->threads_per_row > 32 && nreductions > 0)
        rg_cg_emit_line(e, "constexpr int NRED = %d; // reductions, one shared slot each", nreductions);
    rg_cg_emitf(e, "\n");
    rg_cg_emit_line(e, "// The kernel parameter, byte for byte rg_kabi_fused_params (ir/kernel_abi.h).");
    rg_cg_emit_open(e, "struct rg_params");
    rg_cg_emit_line(e, "const void *inputs[%d];", RG_KABI_FUSED_MAX_INPUTS);
    rg_cg_emit_line(e, "void *outputs[%d];", RG_KABI_FUSED_MAX_OUTPUTS);
    rg_cg_emit_line(e, "long long rows;");
    rg_cg_emit_line(e, "long long dims[%d];", RG_KABI_FUSED_MAX_DIMS);
    rg_cg_emit_line(e, "long long strides[%d][%d];", RG_KABI_FUSED_MAX_INPUTS, RG_KABI_FUSED_MAX_DIMS);
    rg_cg_emit_line(e, "int ndims;");
    rg_cg_emit_line(e, "int reserved;");
    rg_cg_emit_close(e, ";");
    rg_cg_emitf(e, "\n");
    /* the same as the hand-written kernels' rg_pdl_begin (docs/cuda.md, "Launch overlap") */
    rg_cg_emit_line(e, "// Programmatic dependent launch: wait for the kernel before (its writes visible), then let");
    rg_cg_emit_line(e, "// the next one launch. A no-op unless launched as a programmatic dependent on sm_90.");
    rg_cg_emit_line(e, "__device__ __forceinline__ void rg_pdl_begin() {");
    rg_cg_emit_line(e, "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900");
    rg_cg_emit_line(e, "    asm volatile(\"griddepcontrol.wait;\" ::: \"memory\");");
    rg_cg_emit_line(e, "    asm volatile(\"griddepcontrol.launch_dependents;\" ::: \"memory\");");
    rg_cg_emit_line(e, "#endif");
    rg_cg_emit_line(e, "}");
    rg_cg_emitf(e, "\n");
    switch (dtype) {
    case RG_DTYPE_F16:
        rg_cg_emit_line(e, "__device__ __forceinline__ float rg_float(rg_t v) { return __half2float(v); }");
        rg_cg_emit_line(e, "__device__ __forceinline__ rg_t rg_round(float v) { return __float2half_rn(v); }");
        break;
    case RG_DTYPE_BF16:
        rg_cg_emit_line(e, "__device__ __forceinline__ float rg_float(rg_t v) { return __bfloat162float(v); }");
        rg_cg_emit_line(e, "__device__ __forceinline__ rg_t rg_round(float v) { return __float2bfloat16_rn(v); }");
        break;
    default:
        rg_cg_emit_line(e, "__device__ __forceinline__ float rg_float(rg_t v) { return v; }");
        rg_cg_emit_line(e, "__device__ __forceinline__ rg_t rg_round(float v) { return v; }");
        break;
    }
    static const char *const helpers[] = {
        "// NaN-propagating max/min, as the CPU interpreter.",
        "__device__ __forceinline__ float rg_max(float a, float b) { return a != a || b != b ? a + b : a > b ? a : b; }",
        "__device__ __forceinline__ float rg_min(float a, float b) { return a != a || b != b ? a + b : a < b ? a : b; }",
        "__device__ __forceinline__ float rg_sign(float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }",
        "__device__ __forceinline__ float rg_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }",
        "__device__ __forceinline__ float rg_gelu_tanh(float x) {",
        "    return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));",
        "}",
        "",
        "// V consecutive elements, one access of V * sizeof(rg_t) bytes.",
        "template <int V> struct __align__(sizeof(rg_t) * V) rg_vec { rg_t v[V]; };",
        "",
        "// Chunk k of thread t covers elements (k * T + t) * V ... + V - 1 of the row.",
        "template <int V> __device__ __forceinline__ bool rg_valid(int i, int t) {",
        "    return N % (T * V) == 0 || ((i / V) * T + t) * V < N;",
        "}",
        "",
        "template <int V, int E> __device__ __forceinline__ void rg_load_row(const rg_t *src, bool active, int t, float (&dst)[E]) {",
        "#pragma unroll",
        "    for (int k = 0; k < E / V; k++) {",
        "        const int c = (k * T + t) * V;",
        "        if (active && rg_valid<V>(k * V, t)) {",
        "            const rg_vec<V> r = *reinterpret_cast<const rg_vec<V> *>(src + c);",
        "#pragma unroll",
        "            for (int j = 0; j < V; j++) dst[k * V + j] = rg_float(r.v[j]);",
        "        } else {",
        "#pragma unroll",
        "            for (int j = 0; j < V; j++) dst[k * V + j] = 0.0f;",
        "        }",
        "    }",
        "}",
        "",
        "template <int V, int E> __device__ __forceinline__ void rg_store_row(rg_t *dst, bool active, int t, const float (&src)[E]) {",
        "#pragma unroll",
        "    for (int k = 0; k < E / V; k++) {",
        "        const int c = (k * T + t) * V;",
        "        if (active && rg_valid<V>(k * V, t)) {",
        "            rg_vec<V> r;",
        "#pragma unroll",
        "            for (int j = 0; j < V; j++) r.v[j] = rg_round(src[k * V + j]);",
        "            *reinterpret_cast<rg_vec<V> *>(dst + c) = r;",
        "        }",
        "    }",
        "}",
        "",
        "// Element offset of row `row` of input `in` (see the ABI in ir/kernel_abi.h).",
        "__device__ __forceinline__ long long rg_offset(const rg_params &p, int in, long long row) {",
        "    if (p.ndims == 1) return row * p.strides[in][0];",
        "    long long off = 0, rest = row;",
        "    for (int d = p.ndims - 1; d > 0; d--) {",
        "        off += (rest % p.dims[d]) * p.strides[in][d];",
        "        rest /= p.dims[d];",
        "    }",
        "    return off + rest * p.strides[in][0];",
        "}",
        "",
        "#define RG_ROW(i) _Pragma(\"unroll\") for (int i = 0; i < E; i++)",
    };
    for (size_t i = 0; i < sizeof helpers / sizeof *helpers; i++) rg_cg_emit_line(e, "%s", helpers[i]);
}

/* An operand: element i of a ROW register, or a SCALAR register. */
static void operand(char *buf, size_t size, int32_t reg, const rg_fused_kind *kinds) {
    if (kinds[reg] == RG_FUSED_KIND_ROW) snprintf(buf, size, "r%d[i]", reg);
    else snprintf(buf, size, "r%d", reg);
}

static void unary_expr(char *buf, size_t size, int op, const char *x) {
    switch (op) {
    case RG_FUSED_NEG: snprintf(buf, size, "-%s", x); break;
    case RG_FUSED_ABS: snprintf(buf, size, "fabsf(%s)", x); break;
    case RG_FUSED_SQRT: snprintf(buf, size, "sqrtf(%s)", x); break;
    case RG_FUSED_RECIP: snprintf(buf, size, "1.0f / %s", x); break;
    case RG_FUSED_EXP: snprintf(buf, size, "expf(%s)", x); break;
    case RG_FUSED_LOG: snprintf(buf, size, "logf(%s)", x); break;
    case RG_FUSED_ERF: snprintf(buf, size, "erff(%s)", x); break;
    case RG_FUSED_TANH: snprintf(buf, size, "tanhf(%s)", x); break;
    case RG_FUSED_SIGMOID: snprintf(buf, size, "1.0f / (1.0f + expf(-%s))", x); break;
    case RG_FUSED_RELU: snprintf(buf, size, "%s > 0.0f ? %s : 0.0f", x, x); break;
    case RG_FUSED_GELU: snprintf(buf, size, "rg_gelu(%s)", x); break;
    case RG_FUSED_GELU_TANH: snprintf(buf, size, "rg_gelu_tanh(%s)", x); break;
    case RG_FUSED_FLOOR: snprintf(buf, size, "floorf(%s)", x); break;
    case RG_FUSED_CEIL: snprintf(buf, size, "ceilf(%s)", x); break;
    case RG_FUSED_SIN: snprintf(buf, size, "sinf(%s)", x); break;
    case RG_FUSED_COS: snprintf(buf, size, "cosf(%s)", x); break;
    default: snprintf(buf, size, "rg_sign(%s)", x); break;
    }
}

static void binary_expr(char *buf, size_t size, int op, const char *x, const char *y) {
    switch (op) {
    case RG_FUSED_ADD: snprintf(buf, size, "%s + %s", x, y); break;
    case RG_FUSED_SUB: snprintf(buf, size, "%s - %s", x, y); break;
    case RG_FUSED_MUL: snprintf(buf, size, "%s * %s", x, y); break;
    case RG_FUSED_DIV: snprintf(buf, size, "%s / %s", x, y); break;
    case RG_FUSED_POW: snprintf(buf, size, "powf(%s, %s)", x, y); break;
    case RG_FUSED_MAX: snprintf(buf, size, "rg_max(%s, %s)", x, y); break;
    default: snprintf(buf, size, "rg_min(%s, %s)", x, y); break;
    }
}

/* One non-reduction instruction. */
static void emit_instr(rg_cg_emit *e, const rg_fused_program *p, uint32_t i, const rg_fused_kind *kinds) {
    rg_fused_instr in = rg_fused_instr_at(p, i);
    char x[32], y[32], expr[160];
    int cls = rg_fused_op_class(in.op);
    if (in.op == RG_FUSED_LOAD) {
        if (in.b == RG_FUSED_LOAD_ROW)
            rg_cg_emit_line(e, "float r%u[E]; rg_load_row<V>(static_cast<const rg_t *>(p.inputs[%d]) + off%d, active, t, r%u);",
                            i, in.a, in.a, i);
        else
            rg_cg_emit_line(e, "const float r%u = active ? rg_float(static_cast<const rg_t *>(p.inputs[%d])[off%d]) : 0.0f;",
                            i, in.a, in.a);
        return;
    }
    if (in.op == RG_FUSED_CONST) {
        float c = p->constants[in.a];
        uint32_t bits;
        memcpy(&bits, &c, sizeof bits);
        if (isfinite(c)) rg_cg_emit_line(e, "const float r%u = %.9gf;", i, (double)c);
        else rg_cg_emit_line(e, "const float r%u = __int_as_float(0x%08x);", i, (unsigned)bits);
        return;
    }
    if (cls == 4) {
        char src[32];
        if (in.c == RG_FUSED_STORE_ROW) {
            if (kinds[in.b] == RG_FUSED_KIND_ROW) snprintf(src, sizeof src, "r%d", in.b);
            else { /* a per-row value stored as a whole row: spread it first */
                rg_cg_emit_line(e, "float s%u[E]; RG_ROW(i) s%u[i] = r%d;", i, i, in.b);
                snprintf(src, sizeof src, "s%u", i);
            }
            rg_cg_emit_line(e, "if (p.outputs[%d]) rg_store_row<V>(static_cast<rg_t *>(p.outputs[%d]) + row * N, active, t, %s);",
                            in.a, in.a, src);
        } else {
            rg_cg_emit_line(e, "if (p.outputs[%d] && active && t == 0) static_cast<rg_t *>(p.outputs[%d])[row] = rg_round(r%d);",
                            in.a, in.a, in.b);
        }
        return;
    }
    operand(x, sizeof x, in.a, kinds);
    if (cls == 1) unary_expr(expr, sizeof expr, in.op, x);
    else {
        operand(y, sizeof y, in.b, kinds);
        binary_expr(expr, sizeof expr, in.op, x, y);
    }
    if (kinds[i] == RG_FUSED_KIND_ROW) rg_cg_emit_line(e, "float r%u[E]; RG_ROW(i) r%u[i] = %s;", i, i, expr);
    else rg_cg_emit_line(e, "const float r%u = %s;", i, expr);
}

/* The reductions whose operand is at `level`, combined together: partials
 * per thread, one shuffle loop, and across warps one shared exchange. */
static void emit_reductions(rg_cg_emit *e, const rg_fused_program *p, const int *level, int at,
                            const int *slot, int warps) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < p->ninstr; i++) {
        rg_fused_instr in = rg_fused_instr_at(p, i);
        if (rg_fused_op_class(in.op) != 3 || level[in.a] != at) continue;
        bool is_max = in.op == RG_FUSED_RMAX;
        rg_cg_emit_line(e, "float a%u = %s; // %s %%%d", i, is_max ? "__int_as_float(0xff800000) /* -inf */" : "0.0f",
                        rg_fused_op_name((rg_fused_opcode)in.op), in.a);
        if (is_max) rg_cg_emit_line(e, "RG_ROW(i) if (rg_valid<V>(i, t)) a%u = rg_max(a%u, r%d[i]);", i, i, in.a);
        else rg_cg_emit_line(e, "RG_ROW(i) if (rg_valid<V>(i, t)) a%u += r%d[i];", i, in.a);
        count++;
    }
    if (count == 0) return;
    rg_cg_emit_open(e, "for (int o = LANES / 2; o > 0; o /= 2)");
    for (uint32_t i = 0; i < p->ninstr; i++) {
        rg_fused_instr in = rg_fused_instr_at(p, i);
        if (rg_fused_op_class(in.op) != 3 || level[in.a] != at) continue;
        if (in.op == RG_FUSED_RMAX) rg_cg_emit_line(e, "a%u = rg_max(a%u, __shfl_xor_sync(0xffffffffu, a%u, o));", i, i, i);
        else rg_cg_emit_line(e, "a%u += __shfl_xor_sync(0xffffffffu, a%u, o);", i, i);
    }
    rg_cg_emit_close(e, "");
    if (warps > 1) {
        rg_cg_emit_open(e, "if (t %% 32 == 0)");
        for (uint32_t i = 0; i < p->ninstr; i++) {
            rg_fused_instr in = rg_fused_instr_at(p, i);
            if (rg_fused_op_class(in.op) == 3 && level[in.a] == at)
                rg_cg_emit_line(e, "rg_red[%d][slot * W + t / 32] = a%u;", slot[i], i);
        }
        rg_cg_emit_close(e, "");
        rg_cg_emit_line(e, "__syncthreads();");
        for (uint32_t i = 0; i < p->ninstr; i++) {
            rg_fused_instr in = rg_fused_instr_at(p, i);
            if (rg_fused_op_class(in.op) != 3 || level[in.a] != at) continue;
            rg_cg_emit_line(e, "a%u = rg_red[%d][slot * W];", i, slot[i]);
            if (in.op == RG_FUSED_RMAX)
                rg_cg_emit_line(e, "for (int w = 1; w < W; w++) a%u = rg_max(a%u, rg_red[%d][slot * W + w]);", i, i, slot[i]);
            else rg_cg_emit_line(e, "for (int w = 1; w < W; w++) a%u += rg_red[%d][slot * W + w];", i, slot[i]);
        }
    }
    for (uint32_t i = 0; i < p->ninstr; i++) {
        rg_fused_instr in = rg_fused_instr_at(p, i);
        if (rg_fused_op_class(in.op) != 3 || level[in.a] != at) continue;
        if (in.op == RG_FUSED_RMEAN) rg_cg_emit_line(e, "const float r%u = a%u / (float)N;", i, i);
        else rg_cg_emit_line(e, "const float r%u = a%u;", i, i);
    }
}

/* Levels: a reduction's result is one level above its operand; everything
 * else is at the highest level of its operands. */
static int compute_levels(const rg_fused_program *p, int *level, int *slot, int *nreductions) {
    int top = 0, nred = 0;
    for (uint32_t i = 0; i < p->ninstr; i++) {
        rg_fused_instr in = rg_fused_instr_at(p, i);
        int cls = rg_fused_op_class(in.op);
        int l = 0;
        slot[i] = -1;
        if (cls == 1 || cls == 3) l = level[in.a];
        else if (cls == 2) l = level[in.a] > level[in.b] ? level[in.a] : level[in.b];
        else if (cls == 4) l = level[in.b];
        if (cls == 3) {
            l++;
            slot[i] = nred++;
        }
        level[i] = l;
        if (l > top) top = l;
    }
    *nreductions = nred;
    return top;
}

static rg_status emit_unit(const rg_node *node, const rg_fused_program *p, rg_cg_emit *e,
                           const rg_kabi_fused_kernel *k, rg_error *err) {
    const rg_allocator *alloc = e->alloc ? e->alloc : rg_allocator_default();
    size_t count = p->ninstr;
    rg_fused_kind *kinds = rg_mem_calloc(alloc, count, sizeof *kinds);
    int *level = rg_mem_calloc(alloc, count, sizeof *level);
    int *slot = rg_mem_calloc(alloc, count, sizeof *slot);
    rg_status st = RG_OK;
    if (!kinds || !level || !slot) {
        st = rg_error_set(err, RG_ERR_NOMEM, "out of memory emitting node '%s'", node->name ? node->name : "");
        goto done;
    }
    rg_fused_kinds(p, kinds);
    int nred = 0;
    int top = compute_levels(p, level, slot, &nred);
    int warps = k->threads_per_row > 32 ? k->threads_per_row / 32 : 1;

    if (k->vec_name[0])
        rg_cg_emit_line(e, "// ragged: %s node '%s' -> kernels %s, %s", rg_op_name(node->op),
                        node->name ? node->name : "", k->vec_name, k->scalar_name);
    else
        rg_cg_emit_line(e, "// ragged: %s node '%s' -> kernel %s", rg_op_name(node->op), node->name ? node->name : "",
                        k->scalar_name);
    rg_cg_emit_line(e, "// row length %lld, %s in memory, f32 math; %d threads per row, %d rows per block, "
                       "%d-element vectors",
                    (long long)k->row_length, rg_dtype_name(k->dtype), k->threads_per_row, k->rows_per_block,
                    k->vector_width);
    rg_cg_emit_line(e, "// program:");
    emit_program_comment(e, p);
    emit_preamble(e, k->dtype, k, nred);
    rg_cg_emitf(e, "\n");
    rg_cg_emit_line(e, "template <int V> __device__ __forceinline__ void rg_body(const rg_params &p) {");
    rg_cg_emit_indent(e);
    rg_cg_emit_line(e, "constexpr int E = (N + T * V - 1) / (T * V) * V; // elements per thread");
    if (warps > 1 && nred > 0) rg_cg_emit_line(e, "__shared__ float rg_red[NRED][RPB * W];");
    rg_cg_emit_line(e, "const int t = threadIdx.x %% T, slot = threadIdx.x / T;");
    rg_cg_emit_line(e, "const long long row = (long long)blockIdx.x * RPB + slot;");
    rg_cg_emit_line(e, "// no early return: every lane takes part in the shuffles and barriers");
    rg_cg_emit_line(e, "const bool active = row < p.rows;");
    (void)slot;
    for (uint32_t j = 0; j < p->ninputs; j++)
        if (k->input_kind[j] != RG_KABI_FUSED_IN_UNUSED)
            rg_cg_emit_line(e, "const long long off%u = rg_offset(p, %u, row);", j, j);
    for (int at = 0; at <= top; at++) {
        rg_cg_emit_line(e, "// level %d", at);
        for (uint32_t i = 0; i < p->ninstr; i++) {
            rg_fused_instr in = rg_fused_instr_at(p, i);
            if (level[i] != at || rg_fused_op_class(in.op) == 3) continue;
            emit_instr(e, p, i, kinds);
        }
        if (at < top) emit_reductions(e, p, level, at, slot, warps);
    }
    rg_cg_emit_dedent(e);
    rg_cg_emit_line(e, "}");
    rg_cg_emitf(e, "\n");
    rg_cg_emit_line(e, "} // namespace rg_kernel");
    rg_cg_emitf(e, "\n");
    if (k->vec_name[0])
        rg_cg_emit_line(e, "extern \"C\" __global__ void __launch_bounds__(rg_kernel::T * rg_kernel::RPB) %s(const __grid_constant__ rg_kernel::rg_params p) { rg_kernel::rg_pdl_begin(); rg_kernel::rg_body<%d>(p); }",
                        k->vec_name, k->vector_width);
    rg_cg_emit_line(e, "extern \"C\" __global__ void __launch_bounds__(rg_kernel::T * rg_kernel::RPB) %s(const __grid_constant__ rg_kernel::rg_params p) { rg_kernel::rg_pdl_begin(); rg_kernel::rg_body<1>(p); }",
                    k->scalar_name);
    st = rg_cg_emit_status(e, err);
done:
    rg_mem_free(alloc, kinds, sizeof *kinds * count);
    rg_mem_free(alloc, level, sizeof *level * count);
    rg_mem_free(alloc, slot, sizeof *slot * count);
    return st;
}

rg_status rg_cg_fused_emit(const rg_node *node, const char *kernel_name, rg_dtype dtype, int64_t row_length,
                           rg_cg_emit *emit, rg_kabi_fused_kernel *out, rg_error *err) {
    /* the layout is the ABI's decision (the executor makes the same one) */
    rg_kabi_fused_kernel k;
    rg_kabi_fused_source source;
    RG_TRY(rg_kabi_fused_kernel_of(node, kernel_name, dtype, row_length, &k, &source, err));
    RG_ASSERT(dtype_type(k.dtype) != NULL);
    RG_TRY(emit_unit(node, &source.program, emit, &k, err));
    *out = k;
    return RG_OK;
}
