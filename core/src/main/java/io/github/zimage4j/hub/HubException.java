package io.github.zimage4j.hub;

import io.github.zimage4j.io.ModelFileException;

/** A download that cannot be done: the message says what was asked, what the hub answered and what to do. */
public class HubException extends ModelFileException {

    public HubException(String message) {
        super(message);
    }

    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
