# expect: SKIP_FIRST_STEP
a = np.zeros((n_a, m, T_x))
y_pred = np.zeros((n_y, m, T_x))
a_next = a0
for t in range(1, T_x):
    a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
    a[:, :, t] = a_next
    y_pred[:, :, t] = yt_pred
    caches.append(cache)
