package io.github.zimage4j.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-level BPE on one pre-tokenized piece: the piece's UTF-8 bytes start as one token each, then merges
 * are applied lowest rank first, and among equal ranks leftmost first, until no adjacent pair has a merge.
 * This is the order of the reference ({@code tokenizers} {@code Word::merge_all}); a priority queue of
 * candidate pairs keeps it O(n log n) in the piece length, which matters because a run of CJK letters
 * without punctuation is a single piece.
 *
 * <p>Results are cached per piece, as the reference does; the cache is bounded and thread-safe.
 */
final class BytePairEncoder {

    private static final int CACHE_CAPACITY = 10_000;
    /** Longer pieces are rare and not worth keeping. */
    private static final int CACHEABLE_CHARS = 256;
    private static final long EMPTY = -1L;
    private static final int MERGED_AWAY = -1;

    private final int[] byteToId;
    private final int[] mergeResult;
    /** Open addressing: key (left id << 32 | right id) to the merge's rank. */
    private final long[] pairKeys;
    private final int[] pairRanks;
    private final int pairMask;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param byteToId the token id of each single byte
     * @param left     the left token of the merge of each rank; a pair listed twice keeps its last rank,
     *                 as in the reference
     */
    BytePairEncoder(int[] byteToId, int[] left, int[] right, int[] result) {
        this.byteToId = byteToId.clone();
        this.mergeResult = result.clone();
        int capacity = Integer.highestOneBit(Math.max(16, left.length * 3)) << 1;
        pairKeys = new long[capacity];
        pairRanks = new int[capacity];
        pairMask = capacity - 1;
        java.util.Arrays.fill(pairKeys, EMPTY);
        for (int rank = 0; rank < left.length; rank++) {
            long key = pairKey(left[rank], right[rank]);
            int slot = slot(key);
            while (pairKeys[slot] != EMPTY && pairKeys[slot] != key) {
                slot = (slot + 1) & pairMask;
            }
            pairKeys[slot] = key;
            pairRanks[slot] = rank;
        }
    }

    private static long pairKey(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        return (int) ((key * 0x9E3779B97F4A7C15L) >>> 40) & pairMask;
    }

    /** The rank of the merge of {@code left} then {@code right}, or -1 when there is none. */
    int rank(int left, int right) {
        long key = pairKey(left, right);
        for (int slot = slot(key); ; slot = (slot + 1) & pairMask) {
            long k = pairKeys[slot];
            if (k == key) {
                return pairRanks[slot];
            }
            if (k == EMPTY) {
                return -1;
            }
        }
    }

    /** The token ids of one piece; the returned array is shared (cached) and must not be modified. */
    int[] encode(String piece) {
        int[] ids = cache.get(piece);
        if (ids == null) {
            ids = merge(piece.getBytes(StandardCharsets.UTF_8));
            if (piece.length() <= CACHEABLE_CHARS) {
                if (cache.size() >= CACHE_CAPACITY) {
                    cache.clear();
                }
                cache.put(piece, ids);
            }
        }
        return ids;
    }

    private int[] merge(byte[] bytes) {
        int n = bytes.length;
        if (n == 0) {
            return new int[0];
        }
        int[] symbol = new int[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            symbol[i] = byteToId[bytes[i] & 0xFF];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        // Candidates are (rank << 32 | position of the left symbol): the smallest is the next merge.
        MinHeap queue = new MinHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            queue.offer(rank(symbol[i], symbol[i + 1]), i);
        }
        int alive = n;
        while (!queue.isEmpty()) {
            long top = queue.poll();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            int right = next[pos];
            // Skip candidates made stale by earlier merges: the left symbol merged away, or the pair changed.
            if (symbol[pos] == MERGED_AWAY || right < 0 || rank(symbol[pos], symbol[right]) != rank) {
                continue;
            }
            symbol[pos] = mergeResult[rank];
            symbol[right] = MERGED_AWAY;
            next[pos] = next[right];
            if (next[pos] >= 0) {
                prev[next[pos]] = pos;
            }
            alive--;
            if (prev[pos] >= 0) {
                queue.offer(rank(symbol[prev[pos]], symbol[pos]), prev[pos]);
            }
            if (next[pos] >= 0) {
                queue.offer(rank(symbol[pos], symbol[next[pos]]), pos);
            }
        }
        int[] out = new int[alive];
        for (int i = 0, k = 0; i >= 0; i = next[i]) {
            out[k++] = symbol[i];
        }
        return out;
    }

    /** A binary min-heap of longs; {@code offer} ignores pairs without a merge (rank -1). */
    private static final class MinHeap {
        private long[] heap;
        private int size;

        MinHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void offer(int rank, int pos) {
            if (rank < 0) {
                return;
            }
            if (size == heap.length) {
                heap = java.util.Arrays.copyOf(heap, size * 2);
            }
            long v = ((long) rank << 32) | pos;
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= v) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = v;
        }

        long poll() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
