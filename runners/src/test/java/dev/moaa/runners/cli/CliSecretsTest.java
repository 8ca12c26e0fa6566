package dev.moaa.runners.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class CliSecretsTest {

  @Test
  void givenASecretBearingBeamFlag_itsValueIsMaskedWhereverTheMessageRepeatsIt() {
    String value = "{\"endpoint\":\"http://proxy:3128\",\"username\":\"u\",\"password\":\"pw-123456\"}";
    List<String> passed = List.of("--proxyConfiguration=" + value, "--runner=DirectRunner");
    String shown = Cli.withoutSecrets(passed, "refused (" + String.join(" ", passed) + "): bad value " + value);
    assertFalse(shown.contains("pw-123456"), shown);
    assertTrue(shown.contains("--runner=DirectRunner"), shown);
  }
}
