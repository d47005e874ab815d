import { storeHarnesses } from '../support/stores';
import { runtimeContract } from './runtime.contract';

for (const harness of storeHarnesses) runtimeContract(harness.name, harness.make);
