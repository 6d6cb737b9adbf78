# expect: Y_NO_SOFTMAX
a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
yt_pred = np.dot(Wya, a_next) + by
