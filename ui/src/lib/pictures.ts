// Pictures of attachments (signatures, 佐证材料) read through the `attachment` command, as
// object URLs kept until the component that shows them goes.
import { ref, onBeforeUnmount } from 'vue';
import { ipc } from '../ipc';
import type { AttachmentRef } from '../bindings/AttachmentRef';

export function usePictures() {
  const urls = ref<Record<string, string>>({});
  const failed = ref<Record<string, boolean>>({});
  const loading = new Set<string>();

  async function load(a: AttachmentRef) {
    const key = a.sha256;
    if (urls.value[key] || failed.value[key] || loading.has(key) || !a.mime.startsWith('image/')) return;
    loading.add(key);
    try {
      const bytes = await ipc.attachment(a.sha256, a.mime);
      urls.value[key] = URL.createObjectURL(new Blob([bytes], { type: a.mime }));
    } catch {
      // Not on this device yet (it arrives with the next sync), or unreadable.
      failed.value[key] = true;
    } finally {
      loading.delete(key);
    }
  }

  onBeforeUnmount(() => Object.values(urls.value).forEach((u) => URL.revokeObjectURL(u)));
  return { urls, failed, load };
}
