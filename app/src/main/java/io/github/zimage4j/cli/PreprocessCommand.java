package io.github.zimage4j.cli;

import io.github.zimage4j.controlnet.Canny;
import io.github.zimage4j.controlnet.Grayscale;
import io.github.zimage4j.image.ImageFiles;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.image.UInt8Image;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code zimage4j preprocess}: control images for the ControlNet, made in Java. */
@Command(name = "preprocess", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Make a ControlNet control image from a photo.",
                "  canny: Canny edges (white on black), as OpenCV's cv2.Canny(gray, low, high).",
                "  gray:  the image in gray (PIL convert(\"L\")).",
                "Depth, pose and HED maps come from other tools; pass them to generate as they are."})
final class PreprocessCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "TYPE", description = "canny or gray.")
    String type;

    @Parameters(index = "1", paramLabel = "IN", description = "Input PNG or JPEG.")
    Path input;

    @Parameters(index = "2", paramLabel = "OUT", description = "Output PNG (written atomically).")
    Path output;

    @Option(names = "--low", defaultValue = "100", description = "Canny: lower hysteresis threshold on |gx| + |gy|. Default: ${DEFAULT-VALUE}.")
    double low;

    @Option(names = "--high", defaultValue = "200", description = "Canny: upper threshold; stronger gradients start edges. Default: ${DEFAULT-VALUE}.")
    double high;

    @Option(names = "--blur", defaultValue = "0", paramLabel = "SIGMA",
            description = "Canny: Gaussian blur sigma before the gradients; 0 = none, as cv2.Canny. Default: ${DEFAULT-VALUE}.")
    double blur;

    @Override
    public Integer call() throws Exception {
        String t = type.toLowerCase(Locale.ROOT);
        if (!t.equals("canny") && !t.equals("gray")) {
            throw new IllegalArgumentException("unknown preprocessor '" + type + "'; use canny or gray");
        }
        Canny canny = t.equals("canny") ? new Canny(low, high, blur) : null; // bad thresholds fail before reading
        if (!Files.isRegularFile(input)) {
            throw new IllegalArgumentException(input + " is not a file");
        }
        Path dir = output.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("the output folder " + dir + " does not exist");
        }
        UInt8Image image = ImageFiles.readRgb(input);
        UInt8Image result = canny != null ? canny.detect(image) : Grayscale.of(image);
        PngFiles.write(output, result, Map.of());
        System.out.println(output);
        return 0;
    }
}
