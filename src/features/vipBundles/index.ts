import { vipBundleMachine } from '../../../machines/vipBundle/vipBundle.machine';
import type { Feature } from '../feature';
import { vipBundleHandlers } from './vipBundles.handlers';
import { vipBundleBookings } from './vipBundles.queries';
import { vipBundlesRoutes, type VipBundlesRoutesOptions } from './vipBundles.routes';

/**
 * VIP bundles: a saga actor per bundle that books show tickets (through the booking actor), two flights
 * and a taxi, and compensates in reverse order when a step fails for good or its deadline passes.
 * Built with the configured deadline (`createVipBundlesFeature({ deadlineSeconds: config.vipBundleDeadlineSeconds })`).
 */
export function createVipBundlesFeature(options: VipBundlesRoutesOptions): Feature {
  return {
    name: 'vipBundles',
    kinds: [{ kind: 'vipBundle', machine: vipBundleMachine }],
    inline: [vipBundleBookings],
    routes: (deps) => vipBundlesRoutes(deps, options),
    handlers: (deps) => vipBundleHandlers(deps),
  };
}
