package io.github.zimage4j.image;

import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Image conversions against every recorded pipeline (pipeline/, img2img/, inpaint/, controlnet/case-pipe-*).
 *
 * <p>Output: {@code decoded} → {@code image_float} and {@code image_uint8} (the README allows atol 2e-4 and
 * ±1; the conversion repeats the reference's float32 operations, so both must match exactly), and the
 * reference's {@code image.png} must decode to {@code image_uint8}. Input: the case's PNGs must decode to
 * the recorded uint8 arrays, and the [−1, 1] preprocessing must give the recorded float tensors exactly;
 * the one resized mask must equal Pillow's LANCZOS resize.
 */
class ImageGoldenTest {

    @TestFactory
    Stream<DynamicTest> decodedToImage() {
        return pipelineCases().stream().map(dir -> DynamicTest.dynamicTest(name(dir), () -> {
            try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
                checkOutput(out, "");
                if (out.find("videox_fun.decoded") != null) {
                    checkOutput(out, "videox_fun.");
                }
            }
            UInt8Image png = ImageFiles.readRgb(dir.resolve("image.png"));
            try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
                assertBytes("image.png vs image_uint8", out.get("image_uint8"), png.pixels());
            }
        }));
    }

    @TestFactory
    Stream<DynamicTest> inputImages() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : pipelineCases()) {
            if (Files.exists(dir.resolve("input_image.png")) || Files.exists(dir.resolve("control_image.png"))) {
                tests.add(DynamicTest.dynamicTest(name(dir), () -> checkInputs(dir)));
            }
        }
        return Golden.atLeastOne(tests, "case with an input or control image").stream();
    }

    private static void checkOutput(SafeTensors out, String prefix) throws IOException {
        StoredTensor decodedStored = out.get(prefix + "decoded");
        long[] s = decodedStored.shape();
        assertEquals(1, s[0], "batch");
        Tensor decoded = decodedStored.toTensor().reshape((int) s[1], (int) s[2], (int) s[3]);

        Tensor unit = ImageTensors.unitRangeHwc(decoded);
        assertArrayEquals(new int[]{(int) s[2], (int) s[3], 3}, unit.shape());
        Compare.allClose(prefix + "image_float", out.get(prefix + "image_float").toFloats(), unit.data(), 0, 0);

        UInt8Image image = ImageTensors.fromDecoded(decoded);
        assertEquals((int) s[3], image.width());
        assertEquals((int) s[2], image.height());
        assertBytes(prefix + "image_uint8", out.get(prefix + "image_uint8"), image.pixels());
    }

    private static void checkInputs(Path dir) throws IOException {
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"))) {
            int checked = 0;
            for (String stem : List.of("input_image", "control_image")) {
                Path png = dir.resolve(stem + ".png");
                if (!Files.exists(png)) {
                    continue;
                }
                // The recorded tensors are named image* for the input image and control_image* for the control.
                String key = stem.equals("input_image") ? "image" : "control_image";
                UInt8Image rgb = ImageFiles.readRgb(png);
                assertBytes(stem + ".png vs " + key + "_uint8", in.get(key + "_uint8"), rgb.pixels());
                Tensor x = ImageTensors.toModelInput(rgb);
                StoredTensor expected = in.get(key);
                assertArrayEquals(Arrays.stream(expected.shape()).skip(1).mapToInt(Math::toIntExact).toArray(), x.shape());
                Compare.allClose(key, expected.toFloats(), x.data(), 0, 0);
                checked++;
            }
            Path mask = dir.resolve("mask.png");
            if (Files.exists(mask)) {
                UInt8Image gray = ImageFiles.readGray(mask);
                assertBytes("mask.png vs mask_uint8", in.get("mask_uint8"), gray.pixels());
                StoredTensor resized = in.find("mask_resized_uint8");
                if (resized != null) {
                    // Pillow: mask.resize((W, H), LANCZOS) on the 'L' image.
                    int h = (int) resized.dim(0);
                    int w = (int) resized.dim(1);
                    assertBytes("mask_resized_uint8", resized, ImageFiles.readGray(mask, w, h).pixels());
                    assertBytes("mask_resized_uint8 (resize)", resized, LanczosResize.resize(gray, w, h).pixels());
                }
                checked++;
            }
            assertTrue(checked > 0, "no input image checked");
        }
    }

    private static void assertBytes(String what, StoredTensor expected, byte[] actual) {
        assertEquals(expected.numel(), actual.length, what + ": size");
        int bad = 0;
        int first = -1;
        for (int i = 0; i < actual.length; i++) {
            if ((int) expected.getLong(i) != (actual[i] & 0xFF)) {
                if (first < 0) {
                    first = i;
                }
                bad++;
            }
        }
        if (bad > 0) {
            fail(what + ": " + bad + " of " + actual.length + " bytes differ; first at " + first + ": expected "
                    + expected.getLong(first) + ", got " + (actual[first] & 0xFF));
        }
    }

    static List<Path> pipelineCases() {
        List<Path> out = new ArrayList<>();
        for (String section : List.of("pipeline", "img2img", "inpaint", "controlnet")) {
            for (Path dir : Golden.cases(section)) {
                if (Files.exists(dir.resolve("image.png"))) {
                    out.add(dir);
                }
            }
        }
        return Golden.atLeastOne(out, "pipeline case with an image.png");
    }

    private static String name(Path dir) {
        return dir.getParent().getFileName() + "/" + dir.getFileName();
    }
}
