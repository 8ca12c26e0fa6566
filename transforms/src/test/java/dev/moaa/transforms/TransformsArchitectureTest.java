package dev.moaa.transforms;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The package structure of the call layer, read from the compiled classes: no cycle between the
 * packages of {@code transforms}; the stores (response cache, budget ledger, coordination) know
 * nothing of the HTTP client or of the pipelines' DoFns, so each can be used and tested alone; and
 * the client knows nothing of the DoFns that drive it.
 */
class TransformsArchitectureTest {
  private static JavaClasses classes;

  @BeforeAll
  static void importClasses() {
    classes = new ClassFileImporter()
        .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importPackages("dev.moaa.transforms");
  }

  @Test
  void thePackagesOfTransforms_formNoCycle() {
    slices().matching("dev.moaa.transforms.(*)..").should().beFreeOfCycles().check(classes);
  }

  @Test
  void theStores_doNotDependOnTheClientOrTheChains() {
    noClasses().that().resideInAnyPackage("dev.moaa.transforms.cache..", "dev.moaa.transforms.budget..",
            "dev.moaa.transforms.limits..")
        .should().dependOnClassesThat().resideInAnyPackage("dev.moaa.transforms.client..",
            "dev.moaa.transforms.moa..", "dev.moaa.transforms.dpo..")
        .check(classes);
  }

  @Test
  void theClient_doesNotDependOnTheChains() {
    noClasses().that().resideInAPackage("dev.moaa.transforms.client..")
        .should().dependOnClassesThat().resideInAnyPackage("dev.moaa.transforms.moa..", "dev.moaa.transforms.dpo..",
            "dev.moaa.transforms.io..", "dev.moaa.transforms.clean..", "dev.moaa.transforms.input..")
        .check(classes);
  }
}
