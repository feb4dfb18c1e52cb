package io.github.zimage4j.springai;

import org.springframework.ai.image.ImageOptions;

/**
 * Spring AI image options with Z-Image's own settings. Plain {@link ImageOptions} (e.g. from
 * {@code ImageOptionsBuilder}) work too: n, width and height are read from any of them.
 */
public final class ZImageOptions implements ImageOptions {

    private Integer n;
    private Integer width;
    private Integer height;
    private Integer steps;
    private Double guidance;
    private Long seed;
    private String negativePrompt;

    public static ZImageOptions create() {
        return new ZImageOptions();
    }

    public ZImageOptions n(int v) {
        n = v;
        return this;
    }

    public ZImageOptions width(int v) {
        width = v;
        return this;
    }

    public ZImageOptions height(int v) {
        height = v;
        return this;
    }

    public ZImageOptions steps(int v) {
        steps = v;
        return this;
    }

    public ZImageOptions guidance(double v) {
        guidance = v;
        return this;
    }

    public ZImageOptions seed(long v) {
        seed = v;
        return this;
    }

    public ZImageOptions negativePrompt(String v) {
        negativePrompt = v;
        return this;
    }

    @Override
    public Integer getN() {
        return n;
    }

    @Override
    public String getModel() {
        return null;
    }

    @Override
    public Integer getWidth() {
        return width;
    }

    @Override
    public Integer getHeight() {
        return height;
    }

    /** Always base64 PNG: the model runs in-process, there is no server to hold a URL. */
    @Override
    public String getResponseFormat() {
        return "b64_json";
    }

    @Override
    public String getStyle() {
        return null;
    }

    public Integer getSteps() {
        return steps;
    }

    public Double getGuidance() {
        return guidance;
    }

    public Long getSeed() {
        return seed;
    }

    public String getNegativePrompt() {
        return negativePrompt;
    }
}
