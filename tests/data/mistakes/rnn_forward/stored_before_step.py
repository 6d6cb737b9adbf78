# expect: A_STORED_BEFORE_STEP
a = np.zeros((n_a, m, T_x))
y_pred = np.zeros((n_y, m, T_x))
a_prev = a0
for t in range(T_x):
    a[:, :, t] = a_prev
    a_prev, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_prev, parameters)
    y_pred[:, :, t] = yt_pred
    caches.append(cache)
