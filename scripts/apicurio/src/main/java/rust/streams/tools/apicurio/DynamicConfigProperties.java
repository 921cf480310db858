package rust.streams.tools.apicurio;

import java.util.List;

import javax.enterprise.inject.Produces;
import javax.inject.Singleton;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;

/**
 * Supplies the registry's list of dynamic configuration properties (settings an admin may
 * change at run time through the registry's REST API), which the registry's configuration
 * beans inject.
 *
 * <p>Upstream, a Quarkus build step of Apicurio's config-index extension fills this list;
 * that build step is not on Maven Central, and our stand-in for its module
 * (config-index-deployment) has none. The tests only read the settings given at start, so
 * the list is empty: every setting keeps its start value, and none can be changed at run time.
 */
public class DynamicConfigProperties {

    /** The empty list of run-time-changeable properties. */
    @Produces
    @Singleton
    DynamicConfigPropertyList dynamicConfigProperties() {
        return new DynamicConfigPropertyList(List.of());
    }
}
