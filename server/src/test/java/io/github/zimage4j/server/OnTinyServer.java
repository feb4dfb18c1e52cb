package io.github.zimage4j.server;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/** Test classes sharing one server on the tiny model (loaded once per class). */
abstract class OnTinyServer {

    @TempDir
    static Path root;
    static TestServer s;

    @BeforeAll
    static void start() throws Exception {
        s = new TestServer(root).ready();
    }

    @AfterAll
    static void stop() {
        s.close();
    }
}
