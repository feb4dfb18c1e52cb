package io.github.zimage4j.controlnet;

import io.github.zimage4j.image.UInt8Image;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Canny on synthetic images whose edges follow from the definition: a 3×3 Sobel of a step of height d
 * is 4·d on both columns beside it (|gx| + |gy| = 4d), non-maximum suppression keeps the first of two
 * equal maxima (strictly greater than the one before, not below the one after), and hysteresis keeps
 * weak pixels only when 8-connected to strong ones.
 */
class CannyTest {

    /** A gray image, {@code left} for x &lt; edgeX and {@code right} from edgeX on; {@code rightLow} below row split. */
    static UInt8Image verticalStep(int w, int h, int edgeX, int left, int right, int splitY, int rightLow) {
        byte[] px = new byte[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[y * w + x] = (byte) (x < edgeX ? left : y < splitY ? right : rightLow);
            }
        }
        return new UInt8Image(w, h, 1, px);
    }

    static int edge(UInt8Image e, int x, int y) {
        return e.pixels()[y * e.width() + x] & 0xFF;
    }

    @Test
    void strongStepGivesAOnePixelLineLeftOfTheStep() {
        // d = 255: gradient 1020 > 200 at x = 15 and 16; NMS keeps x = 15 (m > left 0, m ≥ right 1020).
        UInt8Image e = new Canny().detect(verticalStep(32, 20, 16, 0, 255, 20, 255));
        for (int y = 0; y < 20; y++) {
            for (int x = 0; x < 32; x++) {
                assertEquals(x == 15 ? 255 : 0, edge(e, x, y), "pixel " + x + "," + y);
            }
        }
    }

    @Test
    void stepBelowTheLowThresholdGivesNothing() {
        // d = 20: gradient 80 ≤ low 100.
        UInt8Image e = new Canny().detect(verticalStep(32, 20, 16, 100, 120, 20, 120));
        for (byte b : e.pixels()) {
            assertEquals(0, b);
        }
    }

    @Test
    void weakEdgeSurvivesOnlyWhenConnectedToAStrongOne() {
        // Left 0; right 52 on rows 0..9 (gradient 208 > 200: strong) and 27 on rows 10..19 (108: weak). The
        // step between the two right parts is 25 (100 ≤ low): no edge of its own.
        UInt8Image connected = new Canny().detect(verticalStep(32, 20, 16, 0, 52, 10, 27));
        for (int y = 0; y < 20; y++) {
            int count = 0;
            for (int x = 0; x < 32; x++) {
                if (edge(connected, x, y) == 255) {
                    count++;
                    assertEquals(true, x == 15 || x == 16, "edge pixel " + x + "," + y + " beside the step");
                }
            }
            assertEquals(1, count, "one edge pixel in row " + y + " of the connected edge");
        }
        // The weak part alone: no strong seed, no edge.
        UInt8Image alone = new Canny().detect(verticalStep(32, 20, 16, 0, 27, 0, 27));
        for (byte b : alone.pixels()) {
            assertEquals(0, b);
        }
        // Lowering high below 108 makes it strong.
        UInt8Image lowered = new Canny(100, 105, 0).detect(verticalStep(32, 20, 16, 0, 27, 0, 27));
        assertEquals(255, edge(lowered, 15, 5));
        assertEquals(0, edge(lowered, 16, 5));
    }

    @Test
    void horizontalStepGivesARowAboveTheStep() {
        int w = 20;
        int h = 24;
        byte[] px = new byte[w * h];
        for (int y = 12; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[y * w + x] = (byte) 200;
            }
        }
        UInt8Image e = new Canny().detect(new UInt8Image(w, h, 1, px));
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                assertEquals(y == 11 ? 255 : 0, edge(e, x, y), "pixel " + x + "," + y);
            }
        }
    }

    @Test
    void rgbInputIsConvertedToGrayFirst() {
        // Pure green 0 → 255 is gray 0 → 150 ((38470·255 + 32768) >> 16 = 150): gradient 600 > 200.
        int w = 16;
        int h = 8;
        byte[] px = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 8; x < w; x++) {
                px[(y * w + x) * 3 + 1] = (byte) 255;
            }
        }
        UInt8Image rgb = new UInt8Image(w, h, 3, px);
        assertEquals(150, Grayscale.of(rgb).pixels()[8] & 0xFF);
        assertEquals(255, edge(new Canny().detect(rgb), 7, 3));
        UInt8Image asRgb = ControlType.CANNY.prepare(rgb);
        assertEquals(3, asRgb.channels());
        assertEquals(255, asRgb.get(7, 3, 0));
        assertEquals(255, asRgb.get(7, 3, 2));
    }

    @Test
    void blurSpreadsTheStepButKeepsOneLine() {
        UInt8Image e = new Canny(100, 200, 1.0).detect(verticalStep(32, 20, 16, 0, 255, 20, 255));
        for (int y = 0; y < 20; y++) {
            int count = 0;
            for (int x = 0; x < 32; x++) {
                count += edge(e, x, y) == 255 ? 1 : 0;
            }
            assertEquals(1, count, "one edge pixel in row " + y);
        }
    }

    @Test
    void badThresholds() {
        assertThrows(IllegalArgumentException.class, () -> new Canny(200, 100, 0));
        assertThrows(IllegalArgumentException.class, () -> new Canny(-1, 100, 0));
        assertThrows(IllegalArgumentException.class, () -> new Canny(1, 2, -1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ControlType.parse("sketch"));
        assertEquals(true, e.getMessage().contains("canny, depth, pose, hed, tile, gray"));
        assertEquals(ControlType.TILE, ControlType.parse("Tile"));
    }
}
