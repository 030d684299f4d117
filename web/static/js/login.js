// The staff login form.

import { api } from './api.js';
import { t } from './i18n.js';

const form = document.getElementById('login-form');
const errorBox = document.getElementById('login-error');

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    showError(t('Please enter your username and password.'));
    (username ? form.elements.password : form.elements.username).focus();
    return;
  }
  const button = document.getElementById('login-submit');
  button.disabled = true;
  showError('');
  try {
    await api('POST', '/api/login', { username, password });
    window.location.assign('/console');
  } catch (error) {
    button.disabled = false;
    if (error.status === 401) showError(t('Wrong username or password.'));
    else if (error.status === 429) showError(t('Too many failed attempts. Please wait a few minutes.'));
    else showError(t('Login did not work. Please try again.'));
    form.elements.password.focus();
  }
});
