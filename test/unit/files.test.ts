import { describe, expect, it } from 'bun:test';
import { openFilesLimit } from '../../src/kernel/files';

describe('openFilesLimit', () => {
  it("reads the soft limit of open files from Linux's /proc/self/limits, and nothing when it is unlimited or absent", () => {
    const limits = (line: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax processes             96367                96367                processes\n${line}\nMax locked memory         8388608              8388608              bytes\n`;
    expect(openFilesLimit(limits('Max open files            1024                 524288               files'))).toBe(1024);
    expect(openFilesLimit(limits('Max open files            unlimited            unlimited            files'))).toBeUndefined();
    expect(openFilesLimit('')).toBeUndefined();
  });
});
