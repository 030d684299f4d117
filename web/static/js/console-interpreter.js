// Adding an interpreter to an appointment that exists (issue 11, item 12): a button per
// appointment and a small dialog (name, language of the invitation) that asks the server for a
// new participant with a join link of their own; the console then shows that link.

import { api } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';

const $ = (id) => document.getElementById(id);

/** The "Add interpreter" button of an appointment's card. */
export function addInterpreterButton(a) {
  return el('button', {
    type: 'button', className: 'button secondary', 'data-action': 'add-interpreter', 'data-id': a.id,
    'data-key': `interpreter:${a.id}`, 'aria-label': t('Add an interpreter to “{title}”', { title: a.title }),
    text: t('Add interpreter'),
  });
}

/** Ask for the interpreter's name and language, then add them to the appointment. Resolves to
 *  the server's answer ({appointment, participant, join_url}), or null when cancelled. */
export function addInterpreter(appointment) {
  const dialog = $('interpreter-dialog');
  const form = $('interpreter-form');
  const name = $('interpreter-name');
  const error = $('interpreter-error');
  $('interpreter-about').textContent = appointment.title;
  name.value = '';
  error.hidden = true;
  name.removeAttribute('aria-invalid');
  dialog.returnValue = '';
  return new Promise((resolve) => {
    let result = null;
    const onSubmit = async (event) => {
      if (!event.submitter || event.submitter.value !== 'add') return;  // Cancel closes
      event.preventDefault();
      const body = { role: 'interpreter', name: name.value.trim(), lang: $('interpreter-lang').value };
      if (!body.name) {
        showError(t('Please enter a name.'), 'name');
        return;
      }
      try {
        result = await api('POST', `/api/appointments/${encodeURIComponent(appointment.id)}/participants`, body);
        dialog.close('add');
      } catch (failure) {
        showError(failure.message, failure.field);
      }
    };
    const showError = (message, field) => {
      error.textContent = message;
      error.hidden = false;
      if (field === 'name') {
        name.setAttribute('aria-invalid', 'true');
        name.focus();
      }
    };
    const onInput = () => {  // a corrected name clears the old complaint
      error.hidden = true;
      name.removeAttribute('aria-invalid');
    };
    form.addEventListener('submit', onSubmit);
    name.addEventListener('input', onInput);
    dialog.addEventListener('close', () => {
      form.removeEventListener('submit', onSubmit);
      name.removeEventListener('input', onInput);
      resolve(result);
    }, { once: true });
    dialog.showModal();
    name.focus();
  });
}
