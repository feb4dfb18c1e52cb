package io.github.zimage4j.image;

import java.io.IOException;

/** An input image that cannot be used (not PNG or JPEG, corrupt, too large); the message names the file and why. */
public class ImageFileException extends IOException {

    public ImageFileException(String message) {
        super(message);
    }

    public ImageFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
