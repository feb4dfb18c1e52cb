package io.github.zimage4j.io;

import java.io.IOException;

/** A model or tensor file that cannot be used; the message names the file and, where known, the tensor. */
public class ModelFileException extends IOException {

    public ModelFileException(String message) {
        super(message);
    }

    public ModelFileException(String message, Throwable cause) {
        super(message, cause);
    }
}
