package io.github.zimage4j.hub;

import java.net.URI;
import java.time.Duration;

/**
 * Where a hub is and how to talk to it.
 *
 * @param source        which hub API the endpoint speaks
 * @param endpoint      its base URL ({@code https://huggingface.co}, a mirror such as {@code https://hf-mirror.com},
 *                      or {@code https://www.modelscope.cn})
 * @param token         the access token sent as {@code Authorization: Bearer}, or null
 * @param maxAttempts   tries per request before giving up (rate limits, server errors, dropped connections)
 * @param backoff       the wait before the second try; doubled for each further try
 * @param maxRetryAfter the longest {@code Retry-After} a 429 answer may ask for before the pull gives up at once
 */
public record HubSettings(Source source, URI endpoint, String token, int maxAttempts, Duration backoff, Duration maxRetryAfter) {

    /** The two hub APIs. */
    public enum Source {
        HUGGING_FACE("Hugging Face", "HF_TOKEN", "main"),
        MODELSCOPE("ModelScope", "MODELSCOPE_API_TOKEN", "master");

        private final String displayName;
        private final String tokenVariable;
        private final String defaultRevision;

        Source(String displayName, String tokenVariable, String defaultRevision) {
            this.displayName = displayName;
            this.tokenVariable = tokenVariable;
            this.defaultRevision = defaultRevision;
        }

        public String displayName() {
            return displayName;
        }

        /** The environment variable holding the token. */
        public String tokenVariable() {
            return tokenVariable;
        }

        public String defaultRevision() {
            return defaultRevision;
        }
    }

    public HubSettings {
        String e = endpoint.toString();
        if (e.endsWith("/")) {
            endpoint = URI.create(e.substring(0, e.length() - 1));
        }
        if (token != null && token.isBlank()) {
            token = null;
        }
    }

    /**
     * Settings from the environment as huggingface_hub and modelscope read it: {@code HF_ENDPOINT} and
     * {@code HF_TOKEN} (else the token file {@code $HF_TOKEN_PATH} or {@code $HF_HOME/token}); for ModelScope
     * {@code MODELSCOPE_DOMAIN} (a host, or a full URL) and {@code MODELSCOPE_API_TOKEN}.
     */
    public static HubSettings fromEnvironment(Source source) {
        String endpoint;
        String token = System.getenv(source.tokenVariable());
        if (source == Source.HUGGING_FACE) {
            endpoint = orDefault(System.getenv("HF_ENDPOINT"), "https://huggingface.co");
            if (token == null || token.isBlank()) {
                token = HubTokens.readHuggingFaceTokenFile();
            }
        } else {
            String domain = orDefault(System.getenv("MODELSCOPE_DOMAIN"), "www.modelscope.cn");
            endpoint = domain.contains("://") ? domain : "https://" + domain;
        }
        return new HubSettings(source, URI.create(endpoint), token, 6, Duration.ofSeconds(1), Duration.ofMinutes(5));
    }

    public HubSettings withEndpoint(URI e) {
        return new HubSettings(source, e, token, maxAttempts, backoff, maxRetryAfter);
    }

    public HubSettings withRetries(int attempts, Duration firstBackoff, Duration longestRetryAfter) {
        return new HubSettings(source, endpoint, token, attempts, firstBackoff, longestRetryAfter);
    }

    private static String orDefault(String v, String d) {
        return v == null || v.isBlank() ? d : v.trim();
    }
}
