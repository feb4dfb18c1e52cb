package io.github.zimage4j.controlnet;

import io.github.zimage4j.image.UInt8Image;

import java.util.Locale;

/**
 * What a control image is, and so how it is prepared before the VAE encodes it. The Union ControlNet
 * takes all of these through the same branch; only the preparation differs.
 */
public enum ControlType {
    /** A photo (or anything) turned into a Canny edge map here, with {@link Canny#DEFAULT_LOW}/{@link Canny#DEFAULT_HIGH}. */
    CANNY,
    /** A depth map made by another tool: used as given. */
    DEPTH,
    /** A pose skeleton image (OpenPose style): used as given. */
    POSE,
    /** A HED / soft-edge, MLSD or scribble map: used as given. */
    HED,
    /** A (low-detail) version of the target image for the Tile control: used as given. */
    TILE,
    /** A photo turned into gray (PIL {@code convert("L")}) and back to three equal channels. */
    GRAY;

    /** Parses a CLI/API name ({@code canny}, {@code depth}, …), naming the valid ones on failure. */
    public static ControlType parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown control type '" + name + "'; use one of canny, depth, pose, hed, tile, gray");
        }
    }

    /** The RGB image the VAE encodes: edges or gray for CANNY and GRAY, the image itself otherwise. */
    public UInt8Image prepare(UInt8Image image) {
        return switch (this) {
            case CANNY -> Grayscale.toRgb(new Canny().detect(image));
            case GRAY -> Grayscale.toRgb(Grayscale.of(image));
            default -> image;
        };
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
