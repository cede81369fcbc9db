// confirmed(): ask before a dangerous action — a warning box naming what will happen,
// with the action's own word on its button; true when the user confirmed.
import { ElMessageBox } from 'element-plus';
import 'element-plus/es/components/message-box/style/css';
import { t } from './i18n.js';

export async function confirmed(text, title, button) {
  try {
    await ElMessageBox.confirm(text, title, { type: 'warning', confirmButtonText: button, cancelButtonText: t('common.cancel') });
    return true;
  } catch {
    return false;
  }
}
