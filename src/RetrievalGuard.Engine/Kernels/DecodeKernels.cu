// Fused kernels of the static decode step on CUDA (LlamaModel.DecodeStep), compiled at run time by NVRTC for the
// loaded model and launched on libtorch's current stream, so CUDA graphs capture them with the rest of the step.
// Each one replaces several libtorch kernels: a decode step is launch-bound, not bandwidth-bound, outside the
// weight products. Where transformers' eager code materialises an intermediate tensor in the model dtype, these
// kernels round to that dtype at the same point (round_t), so bf16 results follow transformers, not a new recipe.
//
// Compile-time constants (NVRTC -D): DTYPE (0 float32, 1 bfloat16, 2 float16), HEAD_DIM, GROUP (query heads per
// KV head), SPLIT_MAX (most key positions one attention block handles), ATTEND_THREADS (threads of an attention
// block). No headers: NVRTC needs none.

#if DTYPE == 0
typedef float T;
#else
typedef unsigned short T;
#endif

#define INF __int_as_float(0x7f800000)

__device__ __forceinline__ float to_f(T x)
{
#if DTYPE == 0
    return x;
#elif DTYPE == 1
    return __uint_as_float(((unsigned int)x) << 16);
#else
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x));
    return f;
#endif
}

__device__ __forceinline__ T from_f(float f)
{
#if DTYPE == 0
    return f;
#elif DTYPE == 1
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (T)((u >> 16) | 0x40u); // NaN stays a (quiet) NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                      // round to nearest, ties to even
    return (T)(u >> 16);
#else
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
#endif
}

// The value as a tensor of the model dtype would hold it.
__device__ __forceinline__ float round_t(float f) { return to_f(from_f(f)); }

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// ---------------------------------------------------------------------------------------------------------------
// residual += delta (when delta is given), then out = weight · T(residual · rsqrt(mean(residual²) + eps)).
// One block per row. Replaces the residual add and the RMSNorm (transformers: h = x + d; norm(h) in float32,
// cast to the dtype, times the weight).
extern "C" __global__ void add_rmsnorm(T* __restrict__ residual, const T* __restrict__ delta, const T* __restrict__ weight,
                                       T* __restrict__ out, int n, float eps)
{
    __shared__ float partial[32];
    size_t base = (size_t)blockIdx.x * n;
    float squares = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
    {
        float v = to_f(residual[base + i]);
        if (delta != nullptr)
        {
            v = round_t(v + to_f(delta[base + i]));
            residual[base + i] = from_f(v);
        }
        squares += v * v;
    }
    squares = warp_sum(squares);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = squares;
    __syncthreads();
    squares = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.f;
    if (threadIdx.x < 32) squares = warp_sum(squares);
    if (threadIdx.x == 0) partial[0] = squares;
    __syncthreads();
    float inverse = rsqrtf(partial[0] / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        out[base + i] = from_f(round_t(to_f(residual[base + i]) * inverse) * to_f(weight[i]));
}

// ---------------------------------------------------------------------------------------------------------------
// RoPE and the cache write of one decode step. Grid (rows, heads + 2·kv heads), HEAD_DIM/2 threads.
// qkv is [rows, (heads + 2·kv heads)·HEAD_DIM]: queries are rotated in place (attention reads them there), keys are
// rotated into the key cache [rows, kv heads, stored positions, HEAD_DIM] and values copied into the chunk-major
// value cache [chunks, rows, kv heads, chunk, HEAD_DIM], at each row's position. sinSigned is sin with its first
// half negated, so rotate_half(x)·sin = x[(i + half) mod D]·sinSigned[i]; each product is rounded as transformers'
// q·cos + rotate_half(q)·sin rounds it.
extern "C" __global__ void rope_write(T* __restrict__ qkv, int heads, int kvHeads, const T* __restrict__ cosTable,
                                      const T* __restrict__ sinSigned, const long long* __restrict__ positions,
                                      T* __restrict__ keys, T* __restrict__ values, int rows, int storedPositions, int chunkLength)
{
    const int half = HEAD_DIM / 2;
    int row = blockIdx.x, head = blockIdx.y, i = threadIdx.x;
    long long position = positions[row];
    T* x = qkv + (size_t)row * (heads + 2 * kvHeads) * HEAD_DIM + (size_t)head * HEAD_DIM;
    if (head < heads + kvHeads)
    {
        const T* c = cosTable + position * HEAD_DIM;
        const T* s = sinSigned + position * HEAD_DIM;
        float a = to_f(x[i]), b = to_f(x[i + half]);
        T ra = from_f(round_t(a * to_f(c[i])) + round_t(b * to_f(s[i])));
        T rb = from_f(round_t(b * to_f(c[i + half])) + round_t(a * to_f(s[i + half])));
        if (head < heads)
        {
            x[i] = ra;
            x[i + half] = rb;
        }
        else
        {
            T* k = keys + (((size_t)row * kvHeads + (head - heads)) * storedPositions + position) * HEAD_DIM;
            k[i] = ra;
            k[i + half] = rb;
        }
    }
    else
    {
        long long chunk = position / chunkLength, offset = position % chunkLength;
        T* v = values + ((((size_t)chunk * rows + row) * kvHeads + (head - heads - kvHeads)) * chunkLength + offset) * HEAD_DIM;
        v[i] = x[i];
        v[i + half] = x[i + half];
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Decode attention, split over the key window (flash-decoding). Grid (splits, rows · kv heads), ATTEND_THREADS
// threads. A block takes one KV head of one row and splitLength key positions, scores them against that head's
// GROUP queries (read once: grouped-query attention without repeating keys), and writes per query head the split's
// max score, sum of exp and exp-weighted value sum, all float32; attend_combine merges the splits.
// Visible keys: position ≤ the row's position and, with a sliding window, inside it. A probe asks for the raw
// scores of some heads (probeSlot[head] ≥ 0: their row in probeScores [rows, probe heads, keyLength]).
#define WARPS (ATTEND_THREADS / 32)
#define EPV (16 / (int)sizeof(T))               // elements per 16-byte load
#define LPK (HEAD_DIM / EPV)                    // lanes per key row
#define KPW (32 / LPK)                          // key rows a warp reads per load
#define UNROLL 4                                // loads in flight per lane

union Vec
{
    uint4 raw;
    T e[EPV];
};

extern "C" __global__ void __launch_bounds__(ATTEND_THREADS)
attend_split(const T* __restrict__ qkv, int qkvStride, const T* __restrict__ keys, const T* __restrict__ values,
             const long long* __restrict__ positions, int rows, int kvHeads, int storedPositions, int chunkLength,
             int splitLength, int splits, int slidingWindow, float scale,
             float* __restrict__ partMax, float* __restrict__ partSum, float* __restrict__ partAcc,
             const int* __restrict__ probeSlot, float* __restrict__ probeScores, int probeHeads, int keyLength)
{
    __shared__ float weights[GROUP][SPLIT_MAX];
    __shared__ float reduce[WARPS][GROUP][HEAD_DIM];
    const int split = blockIdx.x, row = blockIdx.y / kvHeads, kvHead = blockIdx.y % kvHeads;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, sub = lane / LPK, part = lane % LPK;
    const int heads = kvHeads * GROUP, start = split * splitLength;
    const long long position = positions[row];
    const long long lowest = slidingWindow > 0 ? position - slidingWindow + 1 : 0;
    const int first = (int)(max((long long)start, lowest) - start);
    const int last = (int)(min((long long)start + splitLength, position + 1) - start); // visible: [first, last)
    const size_t statBase = ((size_t)row * heads + (size_t)kvHead * GROUP) * splits + split; // + g · splits

    int slot[GROUP];
#pragma unroll
    for (int g = 0; g < GROUP; g++) slot[g] = probeSlot != nullptr ? probeSlot[kvHead * GROUP + g] : -1;

    if (first >= last)
    {
        // Nothing visible (a padded window, or before a sliding window): an empty split.
        if (threadIdx.x < GROUP)
        {
            partMax[statBase + threadIdx.x * splits] = -INF;
            partSum[statBase + threadIdx.x * splits] = 0.f;
        }
#pragma unroll
        for (int g = 0; g < GROUP; g++)
            if (slot[g] >= 0)
                for (int j = threadIdx.x; j < splitLength; j += ATTEND_THREADS)
                    probeScores[((size_t)row * probeHeads + slot[g]) * keyLength + start + j] = -INF;
        return;
    }

    // This lane's slice of the group's queries, scaled, in registers for the whole split.
    float q[GROUP][EPV];
    const T* query = qkv + (size_t)row * qkvStride + (size_t)kvHead * GROUP * HEAD_DIM + part * EPV;
#pragma unroll
    for (int g = 0; g < GROUP; g++)
#pragma unroll
        for (int e = 0; e < EPV; e++) q[g][e] = to_f(query[g * HEAD_DIM + e]) * scale;

    // Scores: LPK lanes read one key row as 16-byte loads (coalesced), then sum their partial dot products. UNROLL
    // rows per lane are loaded before any is used, so enough loads are in flight to cover memory latency.
    const T* keyRows = keys + (((size_t)row * kvHeads + kvHead) * storedPositions + start) * HEAD_DIM;
    for (int j0 = warp * KPW; j0 < splitLength; j0 += WARPS * KPW * UNROLL)
    {
        Vec k[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
        {
            int j = j0 + u * WARPS * KPW + sub;
            if (j >= first && j < last) k[u].raw = *(const uint4*)(keyRows + (size_t)j * HEAD_DIM + part * EPV);
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
        {
            int rowStart = j0 + u * WARPS * KPW, j = rowStart + sub;  // rowStart is the same for the whole warp
            if (rowStart >= splitLength) break;
            bool visible = j >= first && j < last;
            float s[GROUP];
#pragma unroll
            for (int g = 0; g < GROUP; g++) s[g] = 0.f;
            if (visible)
            {
#pragma unroll
                for (int e = 0; e < EPV; e++)
                {
                    float kv = to_f(k[u].e[e]);
#pragma unroll
                    for (int g = 0; g < GROUP; g++) s[g] += q[g][e] * kv;
                }
            }
#pragma unroll
            for (int g = 0; g < GROUP; g++)
                for (int o = LPK / 2; o > 0; o >>= 1) s[g] += __shfl_xor_sync(0xffffffffu, s[g], o);
            if (part == 0)
            {
#pragma unroll
                for (int g = 0; g < GROUP; g++)
                {
                    float score = visible ? s[g] : -INF;
                    weights[g][j] = score;
                    if (slot[g] >= 0) probeScores[((size_t)row * probeHeads + slot[g]) * keyLength + start + j] = score;
                }
            }
        }
    }
    __syncthreads();

    // Per query head: the split's max and sum of exp (one warp per head).
    for (int g = warp; g < GROUP; g += WARPS)
    {
        float m = -INF;
        for (int j = lane; j < splitLength; j += 32) m = fmaxf(m, weights[g][j]);
        m = warp_max(m);
        float l = 0.f;
        for (int j = lane; j < splitLength; j += 32)
        {
            float w = expf(weights[g][j] - m);
            weights[g][j] = w;
            l += w;
        }
        l = warp_sum(l);
        if (lane == 0)
        {
            partMax[statBase + g * splits] = m;
            partSum[statBase + g * splits] = l;
        }
    }
    __syncthreads();

    // Weights × values: the split's value rows are contiguous in one chunk; LPK lanes read a row.
    const int chunk = start / chunkLength, offset = start % chunkLength;
    const T* valueRows = values + ((((size_t)chunk * rows + row) * kvHeads + kvHead) * chunkLength + offset) * HEAD_DIM;
    float acc[GROUP][EPV];
#pragma unroll
    for (int g = 0; g < GROUP; g++)
#pragma unroll
        for (int e = 0; e < EPV; e++) acc[g][e] = 0.f;
    for (int j0 = warp * KPW + sub; j0 < last; j0 += WARPS * KPW * UNROLL)
    {
        Vec v[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
        {
            int j = j0 + u * WARPS * KPW;
            if (j >= first && j < last) v[u].raw = *(const uint4*)(valueRows + (size_t)j * HEAD_DIM + part * EPV);
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
        {
            int j = j0 + u * WARPS * KPW;
            if (j < first || j >= last) continue;
#pragma unroll
            for (int g = 0; g < GROUP; g++)
            {
                float w = weights[g][j];
#pragma unroll
                for (int e = 0; e < EPV; e++) acc[g][e] += w * to_f(v[u].e[e]);
            }
        }
    }
    // Sum over the rows a warp read side by side, then over warps.
#pragma unroll
    for (int g = 0; g < GROUP; g++)
#pragma unroll
        for (int e = 0; e < EPV; e++)
            for (int o = 16; o >= LPK; o >>= 1) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], o);
    if (sub == 0)
#pragma unroll
        for (int g = 0; g < GROUP; g++)
#pragma unroll
            for (int e = 0; e < EPV; e++) reduce[warp][g][part * EPV + e] = acc[g][e];
    __syncthreads();
    for (int i = threadIdx.x; i < GROUP * HEAD_DIM; i += ATTEND_THREADS)
    {
        int g = i / HEAD_DIM, d = i % HEAD_DIM;
        float total = 0.f;
#pragma unroll
        for (int w = 0; w < WARPS; w++) total += reduce[w][g][d];
        partAcc[(statBase + g * splits) * HEAD_DIM + d] = total;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Merges the splits of attend_split: out [rows, heads · HEAD_DIM] in the model dtype. Grid rows · heads, HEAD_DIM
// threads. For probed heads it also writes the log-sum-exp of the scores (probeLse [rows, probe heads]), from
// which the probe's weights are exp(score − lse).
extern "C" __global__ void attend_combine(const float* __restrict__ partMax, const float* __restrict__ partSum,
                                          const float* __restrict__ partAcc, int splits, int heads, T* __restrict__ out,
                                          const int* __restrict__ probeSlot, float* __restrict__ probeLse, int probeHeads)
{
    const size_t rowHead = blockIdx.x;
    const int d = threadIdx.x;
    const float* m = partMax + rowHead * splits;
    const float* l = partSum + rowHead * splits;
    float highest = -INF;
    for (int s = 0; s < splits; s++) highest = fmaxf(highest, m[s]);
    float total = 0.f, acc = 0.f;
    for (int s = 0; s < splits; s++)
    {
        if (m[s] == -INF) continue;
        float w = expf(m[s] - highest);
        total += w * l[s];
        acc += w * partAcc[(rowHead * splits + s) * HEAD_DIM + d];
    }
    out[rowHead * HEAD_DIM + d] = from_f(total > 0.f ? acc / total : 0.f);
    if (probeSlot != nullptr && d == 0)
    {
        int slot = probeSlot[rowHead % heads];
        if (slot >= 0) probeLse[(rowHead / heads) * probeHeads + slot] = highest + logf(total);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// SwiGLU: out = T(silu(gate)) · up from the fused gate/up product [rows, 2 · intermediate] (gate first).
extern "C" __global__ void swiglu(const T* __restrict__ gateUp, T* __restrict__ out, int intermediate, long long total)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    long long row = i / intermediate, c = i % intermediate;
    const T* r = gateUp + row * 2 * intermediate;
    float gate = to_f(r[c]);
    out[i] = from_f(round_t(gate / (1.f + expf(-gate))) * to_f(r[intermediate + c]));
}
