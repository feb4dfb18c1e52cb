package io.github.zimage4j.hub;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The token `hf auth login` stores, read where huggingface_hub reads it. */
final class HubTokens {

    private HubTokens() {
    }

    static String readHuggingFaceTokenFile() {
        String explicit = System.getenv("HF_TOKEN_PATH");
        Path file;
        if (explicit != null && !explicit.isBlank()) {
            file = Path.of(explicit);
        } else {
            String home = System.getenv("HF_HOME");
            Path hfHome = home != null && !home.isBlank() ? Path.of(home)
                    : Path.of(System.getProperty("user.home"), ".cache", "huggingface");
            file = hfHome.resolve("token");
        }
        try {
            if (Files.isRegularFile(file)) {
                String t = Files.readString(file).trim();
                return t.isEmpty() ? null : t;
            }
        } catch (IOException e) {
            // An unreadable token file is the same as none: public repos still download.
        }
        return null;
    }
}
