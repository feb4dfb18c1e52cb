package io.github.zimage4j.server;

/**
 * What one request may ask for; checked when the request arrives, before it is queued.
 *
 * @param maxSide          largest width or height in pixels
 * @param maxPixels        largest width × height
 * @param maxSteps         most denoising steps
 * @param maxBatch         most images per request
 * @param maxPromptChars   longest prompt (and negative prompt), in characters
 * @param maxBodyBytes     largest request body (init, mask and control images travel in it, base64)
 */
public record Limits(int maxSide, long maxPixels, int maxSteps, int maxBatch, int maxPromptChars, int maxBodyBytes) {

    public static Limits defaults() {
        return new Limits(2048, 2048L * 2048, 100, 8, 4000, 32 << 20);
    }

    public Limits {
        if (maxSide < 16 || maxPixels < 256 || maxSteps < 1 || maxBatch < 1 || maxPromptChars < 1 || maxBodyBytes < 1024) {
            throw new IllegalArgumentException("limits too small: " + this);
        }
    }
}
