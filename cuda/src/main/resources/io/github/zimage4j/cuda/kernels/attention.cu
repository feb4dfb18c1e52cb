// Scaled dot-product attention softmax(Q·Kᵀ·scale + mask)·V with an online softmax (FlashAttention):
// the queries × keys score matrix never exists. Q, K, V are bfloat16 rows addressed with strides (so they
// can be column ranges of one fused QKV buffer), the output float32. Grouped-query heads, a causal mask
// (query i sees key j iff j <= i + causalShift; causalShift = keys − queries) and a key mask (bytes,
// 0 hides a key from every query; null for none) as in FlashAttention.java. A row that sees no key is 0.
//
// Two kernels:
//  - flash_attn_mma_d{64,128}: tensor cores (mma.sync m16n8k16 bf16 → f32, sm_80+). 4 warps × 16 query
//    rows per block, 64-key tiles of K and Vᵀ in shared memory; scores and P stay in registers (the
//    accumulator layout of S·Kᵀ is the A-operand layout of P·V). P is rounded to bf16 for the second
//    product, as FlashAttention-2 does. Needs 16-byte aligned rows (strides and offsets multiples of 8).
//  - flash_attn_simt_d{64,128,256,512}: CUDA cores, any head size up to the name's (the VAE's single
//    512-wide head), any alignment, any architecture. 8 warps × 2 query rows per block, 32-key tiles:
//    lane j scores key j, then each lane accumulates its D/32 output columns.
#include "common.cuh"

#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ bool key_visible(int key, int keys, int row, int causalShift, int causal,
                                            const unsigned char* keyMask) {
    return key < keys && (!causal || key <= row + causalShift) && (keyMask == nullptr || keyMask[key] != 0);
}

__device__ __forceinline__ void mma_bf16_16816(float* c, const unsigned* a, unsigned b0, unsigned b1) {
#if __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    __trap();  // the host launches the SIMT kernel below sm_80
#endif
}

template <int D>
__device__ void flash_mma(const bf16_t* q, int qStride, const bf16_t* k, int kStride, const bf16_t* v, int vStride,
                          float* out, int oStride, int queries, int keys, int heads, int kvHeads, float scaleLog2,
                          int causal, int causalShift, const unsigned char* keyMask) {
    constexpr int BQ = 64;        // query rows per block: 4 warps × 16
    constexpr int BK = 64;        // keys per tile
    constexpr int KS = D + 8;     // padded row of the K tile (bf16): rows start on different banks
    constexpr int VS = BK + 8;    // padded row of the Vᵀ tile
    constexpr int NT = BK / 8;    // score n-tiles per warp
    constexpr int DT = D / 8;     // output n-tiles per warp
    __shared__ __align__(16) bf16_t ks[BK * KS];
    __shared__ __align__(16) bf16_t vt[D * VS];

    int h = blockIdx.y;
    int kvh = h / (heads / kvHeads);
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int g = lane >> 2;  // row within the fragment
    int tq = lane & 3;  // column pair within the fragment
    int blockRow0 = blockIdx.x * BQ;
    int row0 = blockRow0 + warp * 16 + g;
    int row1 = row0 + 8;

    // Q as A fragments for all D/16 k-steps, kept in registers.
    unsigned qa[D / 16][4];
    const bf16_t* qh = q + (long long) h * D;
    for (int kk = 0; kk < D / 16; kk++) {
        int c = kk * 16 + 2 * tq;
        qa[kk][0] = row0 < queries ? *(const unsigned*) (qh + (long long) row0 * qStride + c) : 0u;
        qa[kk][1] = row1 < queries ? *(const unsigned*) (qh + (long long) row1 * qStride + c) : 0u;
        qa[kk][2] = row0 < queries ? *(const unsigned*) (qh + (long long) row0 * qStride + c + 8) : 0u;
        qa[kk][3] = row1 < queries ? *(const unsigned*) (qh + (long long) row1 * qStride + c + 8) : 0u;
    }

    float o[DT][4];
    for (int i = 0; i < DT; i++) {
        o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    }
    float m0 = NEG_INF, m1 = NEG_INF, l0 = 0.0f, l1 = 0.0f;

    int kvEnd = keys;
    if (causal) {
        int last = blockRow0 + BQ - 1 + causalShift + 1;
        kvEnd = last < keys ? (last > 0 ? last : 0) : keys;
    }
    const bf16_t* kh = k + (long long) kvh * D;
    const bf16_t* vh = v + (long long) kvh * D;
    for (int kb = 0; kb < kvEnd; kb += BK) {
        __syncthreads();  // the previous tile is no longer read
        for (int idx = threadIdx.x; idx < BK * (D / 8); idx += blockDim.x) {
            int r = idx / (D / 8);
            int c8 = (idx % (D / 8)) * 8;
            int key = kb + r;
            uint4 kv4 = make_uint4(0, 0, 0, 0);
            uint4 vv4 = make_uint4(0, 0, 0, 0);
            if (key < keys) {
                kv4 = *(const uint4*) (kh + (long long) key * kStride + c8);
                vv4 = *(const uint4*) (vh + (long long) key * vStride + c8);
            }
            *(uint4*) (ks + r * KS + c8) = kv4;
            const bf16_t* ve = (const bf16_t*) &vv4;
            for (int e = 0; e < 8; e++) {
                vt[(c8 + e) * VS + r] = ve[e];
            }
        }
        __syncthreads();

        float s[NT][4];
        for (int nt = 0; nt < NT; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
            for (int kk = 0; kk < D / 16; kk++) {
                const bf16_t* kr = ks + (nt * 8 + g) * KS + kk * 16 + 2 * tq;
                mma_bf16_16816(s[nt], qa[kk], *(const unsigned*) kr, *(const unsigned*) (kr + 8));
            }
        }
        // Scale into the log2 domain, mask, and find each row's tile maximum.
        float tmax0 = NEG_INF, tmax1 = NEG_INF;
        for (int nt = 0; nt < NT; nt++) {
            for (int e = 0; e < 4; e++) {
                int key = kb + nt * 8 + 2 * tq + (e & 1);
                int row = e < 2 ? row0 : row1;
                float x = key_visible(key, keys, row, causalShift, causal, keyMask) ? s[nt][e] * scaleLog2 : NEG_INF;
                s[nt][e] = x;
                if (e < 2) {
                    tmax0 = fmaxf(tmax0, x);
                } else {
                    tmax1 = fmaxf(tmax1, x);
                }
            }
        }
        // The four threads of a quad share rows.
        tmax0 = fmaxf(tmax0, __shfl_xor_sync(0xffffffffu, tmax0, 1));
        tmax0 = fmaxf(tmax0, __shfl_xor_sync(0xffffffffu, tmax0, 2));
        tmax1 = fmaxf(tmax1, __shfl_xor_sync(0xffffffffu, tmax1, 1));
        tmax1 = fmaxf(tmax1, __shfl_xor_sync(0xffffffffu, tmax1, 2));
        float new0 = fmaxf(m0, tmax0);
        float new1 = fmaxf(m1, tmax1);
        // Nothing visible yet in a row: its probabilities are 0 and its state stays empty.
        float alpha0 = m0 == NEG_INF ? 0.0f : exp2f(m0 - new0);
        float alpha1 = m1 == NEG_INF ? 0.0f : exp2f(m1 - new1);
        float sum0 = 0.0f, sum1 = 0.0f;
        for (int nt = 0; nt < NT; nt++) {
            for (int e = 0; e < 4; e++) {
                float mr = e < 2 ? new0 : new1;
                float p = mr == NEG_INF ? 0.0f : exp2f(s[nt][e] - mr);
                s[nt][e] = p;
                if (e < 2) {
                    sum0 += p;
                } else {
                    sum1 += p;
                }
            }
        }
        l0 = l0 * alpha0 + sum0;  // per-thread partial sums; the quad adds them at the end
        l1 = l1 * alpha1 + sum1;
        m0 = new0;
        m1 = new1;
        for (int i = 0; i < DT; i++) {
            o[i][0] *= alpha0;
            o[i][1] *= alpha0;
            o[i][2] *= alpha1;
            o[i][3] *= alpha1;
        }
        // O += P · V: two score n-tiles form one A fragment over 16 keys.
        for (int kk = 0; kk < BK / 16; kk++) {
            unsigned pa[4];
            pa[0] = pack_bf16x2(s[2 * kk][0], s[2 * kk][1]);
            pa[1] = pack_bf16x2(s[2 * kk][2], s[2 * kk][3]);
            pa[2] = pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            pa[3] = pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
            for (int dt = 0; dt < DT; dt++) {
                const bf16_t* vr = vt + (dt * 8 + g) * VS + kk * 16 + 2 * tq;
                mma_bf16_16816(o[dt], pa, *(const unsigned*) vr, *(const unsigned*) (vr + 8));
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    float inv0 = l0 == 0.0f ? 0.0f : 1.0f / l0;
    float inv1 = l1 == 0.0f ? 0.0f : 1.0f / l1;
    for (int dt = 0; dt < DT; dt++) {
        int c = h * D + dt * 8 + 2 * tq;
        if (row0 < queries) {
            out[(long long) row0 * oStride + c] = o[dt][0] * inv0;
            out[(long long) row0 * oStride + c + 1] = o[dt][1] * inv0;
        }
        if (row1 < queries) {
            out[(long long) row1 * oStride + c] = o[dt][2] * inv1;
            out[(long long) row1 * oStride + c + 1] = o[dt][3] * inv1;
        }
    }
}

#define FLASH_MMA(D)                                                                                               \
    extern "C" __global__ void __launch_bounds__(128) flash_attn_mma_d##D(                                        \
            const bf16_t* q, int qStride, const bf16_t* k, int kStride, const bf16_t* v, int vStride, float* out, \
            int oStride, int queries, int keys, int heads, int kvHeads, float scaleLog2, int causal,              \
            int causalShift, const unsigned char* keyMask) {                                                      \
        flash_mma<D>(q, qStride, k, kStride, v, vStride, out, oStride, queries, keys, heads, kvHeads, scaleLog2,  \
                     causal, causalShift, keyMask);                                                               \
    }
FLASH_MMA(64)
FLASH_MMA(128)

// SIMT kernel. Dynamic shared memory: Q (2·8 rows × D floats), K and V tiles (32 × (D + 2) bf16 each).
template <int MAXD>
__device__ void flash_simt(const bf16_t* q, int qStride, const bf16_t* k, int kStride, const bf16_t* v, int vStride,
                           float* out, int oStride, int queries, int keys, int heads, int kvHeads, int D,
                           float scaleLog2, int causal, int causalShift, const unsigned char* keyMask) {
    constexpr int WARPS = 8;
    constexpr int RPW = 2;           // query rows per warp
    constexpr int BQ = WARPS * RPW;  // query rows per block
    constexpr int BK = 32;           // keys per tile: one per lane
    constexpr int NPL = MAXD / 32;   // output columns per lane
    extern __shared__ __align__(16) unsigned char smem[];
    int ds = D + 2;  // padded K/V row: lane j's row starts on bank j
    float* qs = (float*) smem;
    bf16_t* ks = (bf16_t*) (qs + BQ * D);
    bf16_t* vs = ks + BK * ds;

    int h = blockIdx.y;
    int kvh = h / (heads / kvHeads);
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int blockRow0 = blockIdx.x * BQ;
    const bf16_t* qh = q + (long long) h * D;
    for (int idx = threadIdx.x; idx < BQ * D; idx += blockDim.x) {
        int r = idx / D;
        int c = idx % D;
        int row = blockRow0 + r;
        qs[idx] = row < queries ? bf16_to_f32(qh[(long long) row * qStride + c]) : 0.0f;
    }
    float o[RPW][NPL];
    float m[RPW], l[RPW];
    for (int r = 0; r < RPW; r++) {
        m[r] = NEG_INF;
        l[r] = 0.0f;
        for (int i = 0; i < NPL; i++) {
            o[r][i] = 0.0f;
        }
    }
    int kvEnd = keys;
    if (causal) {
        int last = blockRow0 + BQ - 1 + causalShift + 1;
        kvEnd = last < keys ? (last > 0 ? last : 0) : keys;
    }
    const bf16_t* kh = k + (long long) kvh * D;
    const bf16_t* vh = v + (long long) kvh * D;
    for (int kb = 0; kb < kvEnd; kb += BK) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < BK * D; idx += blockDim.x) {
            int r = idx / D;
            int c = idx % D;
            int key = kb + r;
            ks[r * ds + c] = key < keys ? kh[(long long) key * kStride + c] : (bf16_t) 0;
            vs[r * ds + c] = key < keys ? vh[(long long) key * vStride + c] : (bf16_t) 0;
        }
        __syncthreads();
        int key = kb + lane;
        for (int r = 0; r < RPW; r++) {
            int rowInBlock = warp * RPW + r;
            int row = blockRow0 + rowInBlock;
            const float* qr = qs + rowInBlock * D;
            const bf16_t* kr = ks + lane * ds;
            float s = 0.0f;
            for (int c = 0; c < D; c++) {
                s = fmaf(qr[c], bf16_to_f32(kr[c]), s);
            }
            s = key_visible(key, keys, row, causalShift, causal, keyMask) ? s * scaleLog2 : NEG_INF;
            float mNew = fmaxf(m[r], warp_max(s));
            float alpha = m[r] == NEG_INF ? 0.0f : exp2f(m[r] - mNew);
            float p = mNew == NEG_INF ? 0.0f : exp2f(s - mNew);
            l[r] = l[r] * alpha + warp_sum(p);
            m[r] = mNew;
            for (int i = 0; i < NPL; i++) {
                o[r][i] *= alpha;
            }
            for (int j = 0; j < BK; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
                const bf16_t* vr = vs + j * ds;
                for (int i = 0; i < NPL; i++) {
                    int c = lane + 32 * i;
                    if (c < D) {
                        o[r][i] = fmaf(pj, bf16_to_f32(vr[c]), o[r][i]);
                    }
                }
            }
        }
    }
    for (int r = 0; r < RPW; r++) {
        int row = blockRow0 + warp * RPW + r;
        if (row >= queries) {
            continue;
        }
        float inv = l[r] == 0.0f ? 0.0f : 1.0f / l[r];
        for (int i = 0; i < NPL; i++) {
            int c = lane + 32 * i;
            if (c < D) {
                out[(long long) row * oStride + (long long) h * D + c] = o[r][i] * inv;
            }
        }
    }
}

#define FLASH_SIMT(MAXD)                                                                                           \
    extern "C" __global__ void __launch_bounds__(256) flash_attn_simt_d##MAXD(                                    \
            const bf16_t* q, int qStride, const bf16_t* k, int kStride, const bf16_t* v, int vStride, float* out, \
            int oStride, int queries, int keys, int heads, int kvHeads, int D, float scaleLog2, int causal,       \
            int causalShift, const unsigned char* keyMask) {                                                      \
        flash_simt<MAXD>(q, qStride, k, kStride, v, vStride, out, oStride, queries, keys, heads, kvHeads, D,      \
                         scaleLog2, causal, causalShift, keyMask);                                                \
    }
FLASH_SIMT(64)
FLASH_SIMT(128)
FLASH_SIMT(256)
FLASH_SIMT(512)
