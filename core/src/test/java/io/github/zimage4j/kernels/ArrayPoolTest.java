package io.github.zimage4j.kernels;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Released host arrays come back for the same length, zeroed, within the pool's byte bound. */
class ArrayPoolTest {

    private static final int N = ArrayPool.MIN_FLOATS;

    @Test
    void reusesAReleasedArrayOfTheSameLengthAsZeros() {
        ArrayPool pool = new ArrayPool(16L * N);
        float[] a = pool.take(N, true);
        java.util.Arrays.fill(a, 3f);
        a[N - 1] = -1f;
        pool.give(a);
        assertNotSame(a, pool.take(N + 1, true), "another length is a new array");
        float[] again = pool.take(N, true);
        assertSame(a, again);
        for (float v : again) {
            assertEquals(0f, v);
        }
        assertNotSame(a, pool.take(N, true), "an array is handed out once per release");
        assertEquals(0, pool.bytes());

        again[5] = 7f;
        pool.give(again);
        float[] asIs = pool.take(N, false);
        assertSame(a, asIs);
        assertEquals(7f, asIs[5], "an output array is not cleared");
    }

    @Test
    void keepsTheMostRecentlyReleasedWithinTheBound() {
        ArrayPool pool = new ArrayPool(8L * N + 4); // two arrays of N floats
        float[] first = new float[N];
        float[] second = new float[N];
        float[] third = new float[N];
        pool.give(first);
        pool.give(second);
        pool.give(third);
        assertEquals(8L * N, pool.bytes());
        assertSame(third, pool.take(N, true));
        assertSame(second, pool.take(N, true));
        assertNotSame(first, pool.take(N, true), "the oldest went when the third came");
    }

    @Test
    void ignoresSmallArraysAndASecondRelease() {
        ArrayPool pool = new ArrayPool(64L * N);
        pool.give(new float[N - 1]);
        assertEquals(0, pool.bytes());
        float[] a = new float[N];
        pool.give(a);
        pool.give(a);
        assertSame(a, pool.take(N, true));
        assertNotSame(a, pool.take(N, true));
    }

    @Test
    void theHostBackendRecyclesWhatItAllocatedButNotAnUpload() {
        Backend be = JavaBackend.INSTANCE;
        Activation allocated = be.allocate(N);
        float[] array = HostBackend.array(allocated);
        be.release(allocated);
        assertSame(array, HostBackend.array(be.allocate(N)));

        float[] mine = new float[N];
        be.release(be.upload(mine));
        assertNotSame(mine, HostBackend.array(be.allocate(N)), "an uploaded array stays the caller's");
    }
}
