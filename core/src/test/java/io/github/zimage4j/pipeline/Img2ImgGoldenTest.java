package io.github.zimage4j.pipeline;

import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.stream.Stream;

/** Every golden/img2img case (diffusers' ZImageImg2ImgPipeline), with the recorded draws injected and from the seed. */
class Img2ImgGoldenTest {

    @TempDir
    Path tmp;

    @TestFactory
    Stream<DynamicTest> injectedDraws() {
        return Golden.cases("img2img").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> ImageToImageGolden.check(dir, tmp, true)));
    }

    @TestFactory
    Stream<DynamicTest> fromSeed() {
        return Golden.cases("img2img").stream()
                .map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> ImageToImageGolden.check(dir, tmp, false)));
    }
}
