package io.github.zimage4j.batch;

import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.ZImagePipeline;

import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * One request of a batch made into PNG bytes, the same way on one machine and on a cluster (so both
 * give byte-identical files for the same request and model).
 *
 * @param png     the PNG file with its metadata
 * @param seed    the seed it was made with
 * @param sha256  hex SHA-256 of {@code png}
 * @param seconds wall time, prompt encoding included
 */
public record RenderedImage(byte[] png, long seed, String sha256, double seconds) {

    public static RenderedImage render(ZImagePipeline pipe, GenerationRequest request, PipelineListener listener,
                                       Cancellation cancel) throws IOException {
        if (request.count() != 1 || request.seed() == null) {
            throw new IllegalArgumentException("a batch request makes one image with a given seed");
        }
        long t0 = System.nanoTime();
        GeneratedImage image = pipe.generate(request, listener, cancel).get(0);
        byte[] png = PngFiles.toBytes(image.image(), image.metadata());
        return new RenderedImage(png, image.seed(), sha256(png), (System.nanoTime() - t0) / 1e9);
    }

    public ManifestRecord record(String id, String file, String backend) {
        return ManifestRecord.done(id, seed, file, sha256, png.length, seconds, backend);
    }

    public static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
