package io.github.zimage4j.lora;

import io.github.zimage4j.io.ModelFileException;

/** A LoRA file that cannot be used as asked; the message names the file and the keys. */
public class LoraException extends ModelFileException {

    public LoraException(String message) {
        super(message);
    }
}
