package io.github.zimage4j.pipeline;

import io.github.zimage4j.controlnet.ControlType;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The request's defaults (resolved in one place) and its validation of the image inputs. */
class GenerationRequestTest {

    static UInt8Image rgb(int w, int h) {
        return UInt8Image.blank(w, h, 3);
    }

    @Test
    void sizeDefaultsToTheInitImageRoundedDownWithANote() {
        GenerationRequest r = GenerationRequest.builder().prompt("x").initImage(rgb(100, 70)).build();
        assertEquals(96, r.width());
        assertEquals(64, r.height());
        assertEquals(1, r.notes().size());
        assertTrue(r.notes().get(0).contains("100x70") && r.notes().get(0).contains("96x64"), r.notes().get(0));
        // An exact size needs no note; a given side stays; no image means 1024.
        assertTrue(GenerationRequest.builder().prompt("x").initImage(rgb(64, 48)).build().notes().isEmpty());
        assertEquals(128, GenerationRequest.builder().prompt("x").initImage(rgb(64, 48)).size(128, 0).build().width());
        assertEquals(1024, GenerationRequest.builder().prompt("x").build().height());
        // toBuilder keeps derived sides derived: a new image gives a new size.
        GenerationRequest again = r.toBuilder().initImage(rgb(32, 32)).build();
        assertEquals(32, again.width());
    }

    @Test
    void defaultsResolvedForTheMode() {
        GenerationRequest t2i = GenerationRequest.of("x", 64, 64);
        GenerationRequest.Settings s = t2i.resolve(Variant.TURBO);
        assertEquals(Variant.TURBO.defaultSteps(), s.steps());
        assertEquals(Variant.TURBO.defaultGuidance(), s.guidance());
        assertEquals(1.0, s.strength());
        assertEquals(0.6, GenerationRequest.builder().prompt("x").initImage(rgb(64, 64)).build().resolve(Variant.BASE).strength());
        GenerationRequest inpaint = GenerationRequest.builder().prompt("x").initImage(rgb(64, 64)).mask(UInt8Image.blank(64, 64, 1)).build();
        assertEquals(1.0, inpaint.resolve(Variant.BASE).strength());
        GenerationRequest control = GenerationRequest.builder().prompt("x").size(64, 64).controlImage(rgb(64, 64)).build();
        assertEquals(0.75, control.resolve(Variant.TURBO).controlScale());
        assertNull(control.resolve(Variant.TURBO).controlType(), "a ready control map by default");
        assertEquals(ControlType.CANNY, control.toBuilder().controlType(ControlType.CANNY).build().resolve(Variant.TURBO).controlType());
    }

    @Test
    void inputsThatNeedOthers() {
        assertMessage(() -> GenerationRequest.builder().prompt("x").strength(0.5).build(), "needs an init image");
        assertMessage(() -> GenerationRequest.builder().prompt("x").mask(UInt8Image.blank(8, 8, 1)).build(), "a mask needs an init image");
        assertMessage(() -> GenerationRequest.builder().prompt("x").controlScale(1.0).build(), "no control image");
        assertMessage(() -> GenerationRequest.builder().prompt("x").initImage(rgb(64, 64)).strength(1.5).build(), "[0.0, 1.0]");
        assertMessage(() -> GenerationRequest.builder().prompt("x").initImage(UInt8Image.blank(64, 64, 1)).build(), "must be RGB");
        assertMessage(() -> GenerationRequest.builder().prompt("x").initImage(rgb(64, 64))
                .initImageNoise(Tensor.zeros(16, 4, 4)).build(), "[16, 8, 8]");
        assertMessage(() -> GenerationRequest.builder().prompt("x").size(64, 64).initImageNoise(Tensor.zeros(16, 8, 8)).build(),
                "no init image");
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable e, String part) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
        assertTrue(ex.getMessage().contains(part), ex.getMessage());
    }
}
